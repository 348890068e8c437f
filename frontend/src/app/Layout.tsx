import type { ReactNode } from "react";
import { navigate } from "@/lib/router";

interface Props {
  username: string;
  onLogout: () => void;
  status?: ReactNode;
  footer?: ReactNode;
  children: ReactNode;
}

/** Header (the user, the connection) and footer around every signed-in page. */
export function Layout({ username, onLogout, status, footer, children }: Props) {
  return (
    <div className="app">
      <header className="app-header">
        <a
          className="brand"
          href="/"
          onClick={(event) => {
            event.preventDefault();
            navigate("/");
          }}
        >
          tradesim
        </a>
        <div className="header-status">{status}</div>
        <span className="user" data-testid="user">
          {username}
        </span>
        <button type="button" onClick={onLogout} data-testid="logout">
          Log out
        </button>
      </header>
      <div className="app-body">{children}</div>
      <footer className="app-footer">
        {footer}
        <span className="muted">simulated market · prices in cents · charts © TradingView</span>
      </footer>
    </div>
  );
}
