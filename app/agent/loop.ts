import type { Model } from "../models/model.js";
import { chatSpan, toolSpan } from "../telemetry/genai.js";
import type { Toolbox } from "../tools/tool.js";
import type { AgentState } from "./state.js";
import { truncate } from "./truncate.js";

export interface Agent {
  model: Model;
  toolbox: Toolbox;
  systemPrompt: string;
  /** Model calls allowed in one turn; stops a model that keeps calling tools. */
  maxIterations: number;
  /** Hand the state to `checkpoint` every N iterations inside a turn; 0 never does. */
  checkpointEveryNIterations: number;
}

export interface TurnResult {
  state: AgentState;
  reply: string;
}

/** A tool step as it happened: the call the model asked for and what the tool answered. */
export interface ToolStep {
  name: string;
  arguments: string;
  result: string;
}

/** How a caller follows a turn while it runs (streaming). */
export interface TurnObserver {
  /** Aborting it cancels the model call in flight and ends the turn with the signal's reason. */
  signal: AbortSignal;
  /**
   * Text as the model writes it. The pieces after the last tool step add up to `reply`; text a
   * model writes alongside tool calls (rare) comes before its `onTool` steps.
   */
  onToken: (text: string) => void;
  onTool: (step: ToolStep) => void;
}

/** In code points, cut between graphemes. */
const TITLE_CHARS = 80;

/**
 * One user turn in the Locus style: append the user's message, then call the model and run the
 * tools it asks for until it answers without tool calls. Works on a copy of `state`. The caller
 * saves the returned state; `checkpoint` (when given) receives intermediate states as configured.
 * An `observer` sees the reply's text and each tool step as they happen.
 */
export async function runTurn(
  agent: Agent,
  initial: AgentState,
  content: string,
  checkpoint?: (state: AgentState) => Promise<void>,
  observer?: TurnObserver,
): Promise<TurnResult> {
  const state = structuredClone(initial);
  state.messages.push({ role: "user", content });
  state.metadata.title ??= truncate(content.replace(/\s+/g, " ").trim(), TITLE_CHARS);

  for (let step = 1; step <= agent.maxIterations; step++) {
    const request = { system: agent.systemPrompt, messages: state.messages, tools: agent.toolbox.specs };
    const reply = await chatSpan(agent.model, observer !== undefined, request, () =>
      agent.model.complete(request, observer && { signal: observer.signal, onToken: observer.onToken }),
    );
    state.iteration++;
    if (reply.toolCalls.length === 0) {
      state.messages.push({ role: "assistant", content: reply.content });
      return { state, reply: reply.content };
    }
    state.messages.push({ role: "assistant", content: reply.content, toolCalls: reply.toolCalls });
    for (const call of reply.toolCalls) {
      const result = toolSpan(call, () => agent.toolbox.call(call.name, call.arguments));
      state.messages.push({ role: "tool", toolCallId: call.id, name: call.name, content: result });
      observer?.onTool({ name: call.name, arguments: call.arguments, result });
    }
    if (checkpoint && agent.checkpointEveryNIterations > 0 && step % agent.checkpointEveryNIterations === 0) await checkpoint(state);
  }
  const gaveUp = `I stopped after ${agent.maxIterations} steps without reaching an answer.`;
  state.messages.push({ role: "assistant", content: gaveUp });
  observer?.onToken(gaveUp);
  return { state, reply: gaveUp };
}
