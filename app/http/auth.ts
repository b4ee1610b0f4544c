import { createHash, timingSafeEqual } from "node:crypto";
import type { Request, RequestHandler, Response } from "express";
import { TENANT_ID_CHARS } from "../agent/conversations.js";
import { ApiError } from "./errors.js";

const sha256 = (text: string) => createHash("sha256").update(text).digest();

/** The tenant of an API key: the first hex digits of its SHA-256. Thread ids are stored under it; the key never is. */
export function tenantOfKey(key: string): string {
  return sha256(key).toString("hex").slice(0, TENANT_ID_CHARS);
}

/** The key in `Authorization: Bearer <key>` or `X-API-Key: <key>`; none when both are sent and differ. */
function presentedKey(req: Request): string | undefined {
  const bearer = /^Bearer +(\S+) *$/i.exec(req.get("authorization") ?? "")?.[1];
  const header = req.get("x-api-key")?.trim() || undefined;
  if (bearer !== undefined && header !== undefined && bearer !== header) return undefined;
  return bearer ?? header;
}

/**
 * Puts the caller's tenant in `res.locals.tenant`: "" for everyone when there are no keys; with
 * keys, the tenant of the key the request presents, or nothing when it is missing or wrong.
 * Rejecting is `requireApiKey`'s job, so the rate limiter in between counts failed attempts too.
 */
export function authenticate(keys: readonly string[]): RequestHandler {
  const known = keys.map((key) => ({ digest: sha256(key), tenant: tenantOfKey(key) }));
  return (req, res, next) => {
    if (known.length === 0) {
      res.locals.tenant = "";
      return next();
    }
    const key = presentedKey(req);
    if (key !== undefined) {
      // Fixed-length digests compared in constant time, against every key: the time taken says
      // neither how close a guess was nor which key matched.
      const digest = sha256(key);
      let tenant: string | undefined;
      for (const k of known) if (timingSafeEqual(k.digest, digest)) tenant = k.tenant;
      res.locals.tenant = tenant;
    }
    next();
  };
}

/** 401 unless `authenticate` found a tenant. */
export const requireApiKey: RequestHandler = (_req, res, next) => {
  if (res.locals.tenant !== undefined) return next();
  res.setHeader("WWW-Authenticate", 'Bearer realm="api"');
  next(new ApiError(401, "UNAUTHORIZED", "a valid API key is required: send Authorization: Bearer <key> or X-API-Key: <key>"));
};

/** The tenant of a request that passed `requireApiKey`. */
export function tenantOf(res: Response): string {
  const tenant: unknown = res.locals.tenant;
  if (typeof tenant !== "string") throw new Error("no tenant: requireApiKey must run before the routes");
  return tenant;
}
