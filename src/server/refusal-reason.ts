/**
 * The words a 4xx answer gave its client, kept for the request's log line: an operator reading the log sees the
 * same reason the node saw ("status":400 alone says nothing). Text bodies are logged as sent; the JSON API's
 * {"kind","message"} by its message.
 */
import type { FastifyReply, FastifyRequest } from "fastify";

const reasons = new WeakMap<FastifyRequest, string>();
/** Long enough for any refusal fleetca words; a body longer than that is not a reason. */
const MAX_REASON = 1000;

function text(payload: unknown): string | undefined {
  if (typeof payload === "string") return payload;
  if (Buffer.isBuffer(payload)) return payload.toString("utf8");
  return undefined;
}

/** onSend: remembers the reason of a 4xx answer. */
export function rememberReason(request: FastifyRequest, reply: FastifyReply, payload: unknown): void {
  if (reply.statusCode < 400 || reply.statusCode >= 500) return;
  let body = text(payload)?.trim();
  if (!body) return;
  if (body.startsWith("{")) {
    try {
      const parsed = JSON.parse(body) as { message?: unknown };
      if (typeof parsed.message === "string") body = parsed.message;
    } catch {
      // not JSON after all: logged as text
    }
  }
  reasons.set(request, body.length > MAX_REASON ? `${body.slice(0, MAX_REASON)}...` : body);
}

/** The remembered reason, as a log field, or nothing. */
export function reasonField(request: FastifyRequest): { reason?: string } {
  const reason = reasons.get(request);
  return reason === undefined ? {} : { reason };
}
