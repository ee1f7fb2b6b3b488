/** The SMTP greeting probe: a real conversation (220, EHLO, 250, QUIT) from the deploying machine. */
import { connect } from "node:net";
import { hostname } from "node:os";

export interface SmtpGreeting {
  /** The 220 line the server sent. */
  readonly banner: string;
  /** The first line of its EHLO answer. */
  readonly ehlo: string;
}

/** One SMTP conversation; rejects on anything but 220 / 250 or after timeoutMs. */
export function smtpGreeting(address: string, port: number, timeoutMs = 10_000): Promise<SmtpGreeting> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: address, port });
    let buffer = "";
    let banner = "";
    let stage: "banner" | "ehlo" | "quit" = "banner";
    const fail = (message: string) => {
      socket.destroy();
      reject(new Error(`SMTP ${address}:${port}: ${message}`));
    };
    socket.setTimeout(timeoutMs, () => fail(`no answer within ${timeoutMs / 1000} s`));
    socket.on("error", (error) => fail(error.message));
    socket.on("data", (chunk) => {
      buffer += chunk.toString("latin1");
      // A reply is complete at its last line: "NNN text" (a space, not "-", after the code).
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (/^\d{3}-/.test(line)) continue;
        if (stage === "banner") {
          if (!line.startsWith("220")) return fail(`greeting was ${JSON.stringify(line)}`);
          banner = line;
          stage = "ehlo";
          socket.write(`EHLO ${hostname() || "localhost"}\r\n`);
        } else if (stage === "ehlo") {
          if (!line.startsWith("250")) return fail(`EHLO answered ${JSON.stringify(line)}`);
          stage = "quit";
          socket.write("QUIT\r\n");
          socket.end();
          socket.setTimeout(0);
          resolve({ banner, ehlo: line });
        }
      }
    });
    socket.on("close", () => {
      if (stage !== "quit") fail("connection closed during the conversation");
    });
  });
}
