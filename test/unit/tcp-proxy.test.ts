import { createServer, connect, type Server } from "node:net";
import type { AddressInfo } from "node:net";
import { once } from "node:events";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TcpProxy } from "../helpers/tcp-proxy.ts";

/** Sends a line through the proxy and answers the echo, or the error that ended the connection. */
async function roundTrip(port: number, line: string): Promise<string> {
  const socket = connect(port, "127.0.0.1");
  socket.setEncoding("utf8");
  return new Promise((resolve) => {
    let received = "";
    socket.on("data", (chunk: string) => {
      received += chunk;
      if (received.endsWith("\n")) {
        socket.end();
        resolve(received.trim());
      }
    });
    socket.on("error", (error: NodeJS.ErrnoException) => resolve(`error ${error.code ?? error.message}`));
    socket.on("close", () => resolve(received === "" ? "closed" : received.trim()));
    socket.write(`${line}\n`);
  });
}

describe("TcpProxy", () => {
  let echo: Server;
  let proxy: TcpProxy;

  beforeAll(async () => {
    echo = createServer((socket) => {
      socket.on("error", () => undefined);
      socket.pipe(socket);
    });
    echo.listen(0, "127.0.0.1");
    await once(echo, "listening");
    proxy = await TcpProxy.start("127.0.0.1", (echo.address() as AddressInfo).port);
  });
  afterAll(async () => {
    await proxy.close();
    echo.close();
  });

  it("passes bytes both ways, refuses while cut, and passes again once restored", async () => {
    expect(await roundTrip(proxy.port, "one")).toBe("one");
    proxy.cut();
    expect(await roundTrip(proxy.port, "two")).toMatch(/^(error ECONNRESET|closed)$/);
    proxy.restore();
    expect(await roundTrip(proxy.port, "three")).toBe("three");
  });

  it("drops an open connection when cut", async () => {
    const socket = connect(proxy.port, "127.0.0.1");
    socket.on("error", () => undefined);
    await once(socket, "connect");
    socket.write("hello\n");
    await once(socket, "data");
    const closed = new Promise((resolve) => socket.on("close", resolve));
    proxy.cut();
    await closed;
    expect(socket.destroyed).toBe(true);
    proxy.restore();
  });
});
