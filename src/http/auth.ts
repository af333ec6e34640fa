import { createPublicKey, createSecretKey, type KeyObject, type webcrypto } from 'node:crypto';
import type { JWTPayload, JWTVerifyGetKey } from 'jose';
import { loadOptional, MessagePipeError } from 'messagepipe';
import { HttpApiError } from './errors';

/** Who a request is: the projects it may use, or `'*'` for every project. */
export interface AuthResult {
  projects: readonly string[] | '*';
}

/** An app's own authentication: the request's projects, or `null` to answer 401. */
export type AuthFunction = (request: Request) => AuthResult | null | Promise<AuthResult | null>;

/** Options of JWT bearer authentication, verified with `jose`. Give one of `secret`, `publicKey` or `jwksUrl`. */
export interface JwtAuthOptions {
  /** Shared secret of HS256 tokens; at least 32 bytes (RFC 7518 §3.2). */
  secret?: string | Uint8Array;
  /** Public key of RS256/ES256/EdDSA tokens: PEM (SPKI or certificate), a `KeyObject` or a `webcrypto.CryptoKey`. */
  publicKey?: string | KeyObject | webcrypto.CryptoKey;
  /** A JWKS endpoint (keys selected by `kid`), for RS256/ES256/EdDSA tokens from an identity provider. */
  jwksUrl?: string | URL;
  /** Required `iss`. */
  issuer?: string | string[];
  /** Required `aud`. */
  audience?: string | string[];
  /**
   * Accepted `alg` values. Defaults to HS256 with `secret`; with a key, the asymmetric algorithms its type allows;
   * with a JWKS, RS256/RS384/RS512/PS256/PS384/PS512/ES256/ES384/ES512/EdDSA. `none` is never accepted, and an
   * HMAC algorithm never with a public key (algorithm confusion).
   */
  algorithms?: string[];
  /**
   * The claim that lists a token's projects: an array of ids, or one id as a string.
   * @default 'projects', else 'projectId'
   */
  projectsClaim?: string;
  /** Leeway for `exp` and `nbf`, in seconds. @default 0 */
  clockToleranceSeconds?: number;
}

/** How `createHttpApi` authenticates: JWTs, an app's own function, or `'none'` (development only: every project). */
export type HttpAuthOption = { jwt: JwtAuthOptions } | AuthFunction | 'none';

const HMAC = ['HS256', 'HS384', 'HS512'];
const ASYMMETRIC = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA'];
const UNAUTHORIZED_HEADERS = { 'WWW-Authenticate': 'Bearer' };

/** Turns the `auth` option into a function from request to projects; throws `CONFIG_INVALID` for bad options. */
export function createAuthenticator(
  auth: HttpAuthOption | undefined,
): (request: Request) => Promise<AuthResult> {
  if (auth === undefined) {
    throw new MessagePipeError(
      'CONFIG_INVALID',
      "createHttpApi needs an auth option: { jwt: { secret } }, { jwt: { publicKey | jwksUrl } }, a function, or 'none' (development only)",
    );
  }
  if (auth === 'none') return async () => ({ projects: '*' });
  if (typeof auth === 'function') {
    return async (request) => {
      const result = await auth(request);
      if (!result) throw unauthorized('Not authenticated');
      return result;
    };
  }
  const verify = jwtVerifier(auth.jwt);
  return async (request) => {
    const header = request.headers.get('authorization');
    const match = header ? /^Bearer[ ]+([A-Za-z0-9._~+/-]+=*)[ ]*$/i.exec(header) : null;
    if (!match)
      throw unauthorized(header ? 'Expected Authorization: Bearer <token>' : 'Missing bearer token');
    return { projects: projectsOf(await verify(match[1]!), auth.jwt.projectsClaim) };
  };
}

function jwtVerifier(options: JwtAuthOptions): (token: string) => Promise<JWTPayload> {
  const given = [options.secret, options.publicKey, options.jwksUrl].filter((value) => value !== undefined);
  if (given.length !== 1) {
    throw new MessagePipeError(
      'CONFIG_INVALID',
      'auth.jwt needs exactly one of secret, publicKey or jwksUrl',
    );
  }
  const jose = loadOptional('jose', 'JWT authentication', () => import('jose'));
  // Unhandled here: the first request reports it (and so does `ready`).
  jose.catch(() => undefined);
  let key: KeyObject | webcrypto.CryptoKey | Promise<JWTVerifyGetKey>;
  let allowed: string[];
  if (options.secret !== undefined) {
    const bytes = typeof options.secret === 'string' ? Buffer.from(options.secret, 'utf8') : options.secret;
    if (bytes.length < 32) {
      throw new MessagePipeError(
        'CONFIG_INVALID',
        'auth.jwt.secret must be at least 32 bytes (256 bits) long',
      );
    }
    key = createSecretKey(bytes);
    allowed = HMAC;
  } else if (options.publicKey !== undefined) {
    key = typeof options.publicKey === 'string' ? createPublicKey(options.publicKey) : options.publicKey;
    if ('type' in key && key.type !== 'public') {
      throw new MessagePipeError('CONFIG_INVALID', 'auth.jwt.publicKey must be a public key');
    }
    allowed = algorithmsOf(key);
  } else {
    const url = new URL(String(options.jwksUrl));
    key = jose.then(({ createRemoteJWKSet }) => createRemoteJWKSet(url));
    allowed = ASYMMETRIC;
  }
  const algorithms = options.algorithms ?? allowed;
  const refused = algorithms.filter((algorithm) => !allowed.includes(algorithm));
  if (refused.length > 0 || algorithms.length === 0) {
    throw new MessagePipeError(
      'CONFIG_INVALID',
      `auth.jwt.algorithms: ${refused.join(', ') || '(none)'} cannot be used with this key; allowed: ${allowed.join(', ')}`,
    );
  }
  const verifyOptions = {
    algorithms,
    ...(options.issuer === undefined ? {} : { issuer: options.issuer }),
    ...(options.audience === undefined ? {} : { audience: options.audience }),
    clockTolerance: options.clockToleranceSeconds ?? 0,
  };
  return async (token) => {
    const { jwtVerify } = await jose;
    const resolved = await key;
    try {
      const { payload } =
        typeof resolved === 'function'
          ? await jwtVerify(token, resolved, verifyOptions)
          : await jwtVerify(token, resolved, verifyOptions);
      return payload;
    } catch (error) {
      throw unauthorized(reasonOf(error));
    }
  };
}

/** The asymmetric algorithms a public key can verify; jose checks the curve and modulus again. */
function algorithmsOf(key: KeyObject | webcrypto.CryptoKey): string[] {
  const type =
    'asymmetricKeyType' in key
      ? key.asymmetricKeyType
      : (key as webcrypto.CryptoKey).algorithm.name.toLowerCase();
  if (type === 'rsa' || type === 'rsassa-pkcs1-v1_5')
    return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'];
  if (type === 'rsa-pss') return ['PS256', 'PS384', 'PS512'];
  if (type === 'ec' || type === 'ecdsa') return ['ES256', 'ES384', 'ES512'];
  if (type === 'ed25519' || type === 'ed448') return ['EdDSA'];
  throw new MessagePipeError('CONFIG_INVALID', `auth.jwt.publicKey: unsupported key type ${String(type)}`);
}

function reasonOf(error: unknown): string {
  const code = (error as { code?: unknown }).code;
  const claim = (error as { claim?: unknown }).claim;
  if (code === 'ERR_JWT_EXPIRED') return 'The token has expired';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && claim === 'nbf') return 'The token is not valid yet';
  if (code === 'ERR_JWT_CLAIM_VALIDATION_FAILED' && typeof claim === 'string') {
    return `The token's "${claim}" claim is not accepted`;
  }
  if (code === 'ERR_JOSE_ALG_NOT_ALLOWED') return "The token's algorithm is not accepted";
  return 'The token is not valid';
}

function projectsOf(payload: JWTPayload, claim: string | undefined): string[] {
  const values = claim === undefined ? [payload.projects, payload.projectId] : [payload[claim]];
  for (const value of values) {
    if (typeof value === 'string' && value.length > 0) return [value];
    if (Array.isArray(value))
      return value.filter((item): item is string => typeof item === 'string' && item !== '');
  }
  return [];
}

function unauthorized(message: string): HttpApiError {
  return new HttpApiError('UNAUTHORIZED', message, { headers: UNAUTHORIZED_HEADERS });
}

/**
 * The project a request works on: the `projectId` query, else the token's only project; `PROJECT_REQUIRED` when
 * neither tells, `FORBIDDEN` when the token may not use it.
 */
export function projectOf(auth: AuthResult, query: string | undefined): string {
  const projectId =
    query !== undefined && query !== ''
      ? query
      : auth.projects !== '*' && auth.projects.length === 1
        ? auth.projects[0]
        : undefined;
  if (projectId === undefined) {
    throw new HttpApiError('PROJECT_REQUIRED', 'Name the project: ?projectId=…', {
      issues: [{ path: ['projectId'], message: 'Required: the token grants more than one project, or none' }],
    });
  }
  if (auth.projects !== '*' && !auth.projects.includes(projectId)) {
    throw new HttpApiError('FORBIDDEN', 'This token may not use this project');
  }
  return projectId;
}
