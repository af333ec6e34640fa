import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import { SignJWT } from 'jose';
import { createHttpApi, type HttpApiOptions } from '../../src/http/index';

/** A JWT secret for tests (HS256 needs 32 bytes or more). */
export const JWT_SECRET = 'test-jwt-secret-that-is-long-enough-0123456789';

/** Signs an HS256 token with {@link JWT_SECRET} (or `secret`), valid for an hour unless the claims say otherwise. */
export async function token(claims: Record<string, unknown>, secret: string = JWT_SECRET): Promise<string> {
  const jwt = new SignJWT(claims).setProtectedHeader({ alg: 'HS256' }).setIssuedAt();
  if (claims.exp === undefined) jwt.setExpirationTime('1h');
  return jwt.sign(new TextEncoder().encode(secret));
}

/** The API on a real HTTP server on 127.0.0.1, on a free port. */
export interface RunningApi {
  url: string;
  /** `fetch` against the server with a bearer token and JSON body. */
  call(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; headers?: Record<string, string> },
  ): Promise<{ status: number; body: unknown; headers: Headers; text: string }>;
  close(): Promise<void>;
}

export async function startApi(options: HttpApiOptions): Promise<RunningApi> {
  const app = createHttpApi(options);
  const server = await new Promise<ReturnType<typeof serve>>((resolve) => {
    const started = serve({ fetch: app.fetch, hostname: '127.0.0.1', port: 0 }, () => resolve(started));
  });
  const { port } = server.address() as AddressInfo;
  const url = `http://127.0.0.1:${port}`;
  return {
    url,
    async call(method, path, { token: bearer, body, headers = {} } = {}) {
      const response = await fetch(`${url}${path}`, {
        method,
        headers: {
          ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
          ...(body === undefined ? {} : { 'content-type': 'application/json' }),
          ...headers,
        },
        ...(body === undefined ? {} : { body: typeof body === 'string' ? body : JSON.stringify(body) }),
      });
      const text = await response.text();
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: keep the text
      }
      return { status: response.status, body: parsed, headers: response.headers, text };
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error ? reject(error) : resolve()));
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
      }),
  };
}
