/**
 * `npm run demo`: a send that fails over from a dead primary to a working secondary, on this machine only.
 *
 * - The primary is an SMTP server on 127.0.0.1 that nobody runs: connection refused.
 * - The secondary is a real SMTP server (the `smtp-server` package) started here on 127.0.0.1.
 *
 * Nothing to configure; nothing leaves 127.0.0.1.
 */
import { createServer } from 'node:net';
import { Dispatcher, MessagePipeError } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';
import { SMTPServer } from 'smtp-server';

const PROJECT = 'demo-project';

/** A port on 127.0.0.1 with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** A local SMTP server that accepts every message and remembers who it was for. */
async function startInbox(): Promise<{ port: number; received: string[]; close: () => Promise<void> }> {
  const received: string[] = [];
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.on('end', () => {
        received.push(session.envelope.rcptTo.map((rcpt) => rcpt.address).join(', '));
        callback();
      });
      stream.resume();
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.server.address() as { port: number };
  return { port, received, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

export async function main(print: (line: string) => void = console.log): Promise<void> {
  const inbox = await startInbox();
  const pipe = new Dispatcher({ adapters: [smtp()] });
  try {
    await pipe.senders.set({
      projectId: PROJECT,
      channel: 'email',
      senderEmail: 'noreply@acme.test',
      senderName: 'Acme',
    });
    await pipe.providers.add(
      {
        projectId: PROJECT,
        channel: 'email',
        provider: 'smtp',
        name: 'Primary (down)',
        priority: 1,
        config: { host: '127.0.0.1', port: await closedPort(), secure: false, timeoutMs: 2000 },
      },
      { verify: false },
    );
    await pipe.providers.add({
      projectId: PROJECT,
      channel: 'email',
      provider: 'smtp',
      name: 'Secondary (local inbox)',
      priority: 2,
      config: { host: '127.0.0.1', port: inbox.port, secure: false, timeoutMs: 2000 },
    });

    const result = await pipe.send({
      projectId: PROJECT,
      channel: 'email',
      to: 'Ann <ann@example.test>',
      subject: 'Welcome to Acme',
      text: 'Hello Ann, your account is ready.',
    });

    const names = new Map((await pipe.providers.list({ projectId: PROJECT })).map((p) => [p.id, p.name]));
    print(
      `Sent through "${names.get(result.providerConfigId)}" (${result.provider}), message id ${result.messageId}`,
    );
    print('Attempts:');
    for (const [index, attempt] of result.attempts.entries()) {
      const detail = attempt.error
        ? `${attempt.error.code} (${attempt.error.failureClass}): ${attempt.error.message}`
        : 'accepted';
      print(
        `  ${index + 1}. ${names.get(attempt.providerConfigId)} → ${attempt.outcome} in ${attempt.durationMs} ms — ${detail}`,
      );
    }
    print(`The local inbox received mail for: ${inbox.received.join('; ')}`);
  } catch (error) {
    if (error instanceof MessagePipeError) print(`Send failed: ${error.code} ${error.message}`);
    throw error;
  } finally {
    await pipe.close();
    await inbox.close();
  }
}

// Run when executed directly (`npm run demo`), not when imported by the tests.
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/\\/g, '/'))) {
  main().catch(() => {
    process.exitCode = 1;
  });
}
