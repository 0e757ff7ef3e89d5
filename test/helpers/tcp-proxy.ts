import net from "node:net";

type Target = () => { host: string; port: number };

/**
 * A TCP proxy the test controls, to cut a client off from a service on this machine and let it
 * back, without touching the service itself; or, spreading connections over several ports, the
 * load balancer in front of a cluster's API processes.
 */
export class TcpProxy {
  private readonly sockets = new Set<net.Socket>();
  private cutOff = false;

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(targetHost: string, targetPort: number): Promise<TcpProxy> {
    return TcpProxy.listen(() => ({ host: targetHost, port: targetPort }));
  }

  /** Each new connection goes to the next of the ports `ports()` answers at the time, on 127.0.0.1. */
  static async spread(ports: () => readonly number[]): Promise<TcpProxy> {
    let turn = 0;
    return TcpProxy.listen(() => {
      const choices = ports();
      turn = (turn + 1) % Math.max(1, choices.length);
      return { host: "127.0.0.1", port: choices[turn] ?? 0 };
    });
  }

  private static async listen(target: Target): Promise<TcpProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(0, "127.0.0.1", resolve);
    });
    const proxy = new TcpProxy(server, (server.address() as net.AddressInfo).port);
    server.on("connection", (client) => proxy.pipe(client, target));
    return proxy;
  }

  /**
   * A proxy in front of the service a URL names (`defaultPort` when it names none), and the same
   * URL leading through the proxy instead: credentials, database and query kept.
   */
  static async before(serviceUrl: string, defaultPort: number): Promise<{ proxy: TcpProxy; url: string }> {
    const target = new URL(serviceUrl);
    const proxy = await TcpProxy.start(target.hostname, Number(target.port || defaultPort));
    const through = new URL(serviceUrl);
    through.hostname = "127.0.0.1";
    through.port = String(proxy.port);
    return { proxy, url: through.href };
  }

  /** How many connections pass through now. */
  get connections(): number {
    return this.sockets.size / 2;
  }

  /** Drops every connection and refuses new ones until `restore`. */
  cut(): void {
    this.cutOff = true;
    for (const socket of this.sockets) socket.destroy();
  }

  restore(): void {
    this.cutOff = false;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private pipe(client: net.Socket, target: Target): void {
    if (this.cutOff) {
      client.destroy();
      return;
    }
    const { host, port } = target();
    const upstream = net.connect(port, host);
    for (const [socket, peer] of [
      [client, upstream],
      [upstream, client],
    ] as const) {
      this.sockets.add(socket);
      socket.on("error", () => peer.destroy());
      socket.on("close", () => {
        this.sockets.delete(socket);
        peer.destroy();
      });
      socket.pipe(peer);
    }
  }
}
