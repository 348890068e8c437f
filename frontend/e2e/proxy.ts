import { createServer, connect, type Server, type Socket } from "node:net";

/**
 * A TCP proxy on 127.0.0.1 between the browser and the gateway. `cut` drops every connection and refuses new ones
 * (the browser sees the network fail) until `restore`; `stall` holds back everything the server sends (the
 * browser's frames still go through), as a link does just before it dies.
 */
export class CuttableProxy {
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly downstream = new Set<Socket>();
  private cutOff = false;
  port = 0;

  constructor(private readonly targetPort: number) {
    this.server = createServer((client) => {
      if (this.cutOff) {
        client.destroy();
        return;
      }
      const upstream = connect(this.targetPort, "127.0.0.1");
      for (const socket of [client, upstream]) {
        this.sockets.add(socket);
        socket.setNoDelay(true);
        socket.on("close", () => this.sockets.delete(socket));
        socket.on("error", () => {
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
      this.downstream.add(upstream);
      upstream.on("close", () => this.downstream.delete(upstream));
    });
  }

  listen(port = 0): Promise<number> {
    return new Promise((done) =>
      this.server.listen(port, "127.0.0.1", () => {
        const address = this.server.address();
        this.port = typeof address === "object" && address ? address.port : 0;
        done(this.port);
      }),
    );
  }

  stall(): void {
    for (const upstream of this.downstream) upstream.pause();
  }

  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  close(): Promise<void> {
    this.cut();
    return new Promise((done) => this.server.close(() => done()));
  }
}
