import { AuthService } from "@/features/auth/auth-service";
import { ApiClient } from "@/lib/api-client";
import { systemClock } from "@/lib/clock";
import { browserStorage } from "@/lib/storage";

/** The app's long-lived services, created once per page. */
export function createServices() {
  const storage = browserStorage();
  const auth = new AuthService(storage, systemClock);
  const api = new ApiClient(auth);
  auth.attach(api);
  return { storage, auth, api };
}

export type Services = ReturnType<typeof createServices>;
