/**
 * Child process of smtp-idle.test.ts: two sends through one pooled SMTP connection (idle in between), then either
 * `pipe.close()` (MP_CLOSE=1) or nothing, and the process should end on its own. MP_SMTP_PORT: the server;
 * MP_STARTTLS=1 upgrades the connection first.
 */
import { Dispatcher } from 'messagepipe';
import { smtp } from 'messagepipe/adapters/smtp';

async function main(): Promise<void> {
  const starttls = process.env.MP_STARTTLS === '1';
  const pipe = new Dispatcher({ adapters: [smtp()], retry: false });
  await pipe.senders.set({ projectId: 'idle', channel: 'email', senderEmail: 'noreply@acme.test' });
  await pipe.providers.add(
    {
      projectId: 'idle',
      channel: 'email',
      provider: 'smtp',
      name: 'Local',
      config: {
        host: '127.0.0.1',
        port: Number(process.env.MP_SMTP_PORT),
        secure: false,
        requireTLS: starttls,
        // The pool's own timeouts are far longer than the test waits: only the idle sockets' state decides.
        timeoutMs: 60_000,
        ...(starttls ? { tls: { rejectUnauthorized: false } } : {}),
      },
    },
    { verify: false },
  );
  for (const n of [1, 2]) {
    const result = await pipe.send({
      projectId: 'idle',
      channel: 'email',
      to: 'ann@example.test',
      subject: `idle ${n}`,
      text: 'Hi',
    });
    console.log(JSON.stringify({ sent: n, provider: result.provider }));
    // Long enough for the connection to be handed back to the pool as idle before the second send takes it.
    if (n === 1) await new Promise((resolve) => setTimeout(resolve, 300));
  }
  if (process.env.MP_CLOSE === '1') await pipe.close();
  console.log(JSON.stringify({ done: true }));
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
