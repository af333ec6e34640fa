import { expect, it } from 'vitest';
import { main } from '../examples/demo';

it('npm run demo fails over from the dead primary to the local inbox and prints every attempt', async () => {
  const lines: string[] = [];
  await main((line) => lines.push(line));
  expect(lines[0]).toMatch(/^Sent through "Secondary \(local inbox\)" \(smtp\), message id \S+$/);
  const attempts = lines.filter((line) => /^\s+\d+\. /.test(line));
  expect(attempts.at(-1)).toMatch(/Secondary \(local inbox\) → sent/);
  expect(attempts.slice(0, -1).length).toBeGreaterThanOrEqual(1);
  for (const line of attempts.slice(0, -1))
    expect(line).toMatch(/Primary \(down\) → failed .* NETWORK_ERROR \(transient\)/);
  expect(lines.at(-1)).toBe('The local inbox received mail for: ann@example.test');
});
