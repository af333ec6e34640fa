import { Dispatcher, type DispatcherOptions } from 'messagepipe';

export const PROJECT = 'project-a';
export const OTHER_PROJECT = 'project-b';

/** A dispatcher with the email sender of {@link PROJECT} set. */
export async function dispatcherWithSender(options: DispatcherOptions): Promise<Dispatcher> {
  const pipe = new Dispatcher(options);
  await pipe.senders.set({
    projectId: PROJECT,
    channel: 'email',
    senderEmail: 'noreply@acme.test',
    senderName: 'Acme',
    enabled: true,
  });
  return pipe;
}

/** An email of {@link PROJECT}. */
export const email = {
  projectId: PROJECT,
  channel: 'email',
  to: 'ann@example.test',
  subject: 'Hello',
  text: 'Hi Ann',
} as const;
