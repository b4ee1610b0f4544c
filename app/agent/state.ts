/** A tool invocation the model asked for; `arguments` is JSON text, as chat-completions sends it. */
export interface ToolCall {
  id: string;
  name: string;
  arguments: string;
}

export type Message =
  | { role: "user"; content: string }
  | { role: "assistant"; content: string; toolCalls?: ToolCall[] }
  | { role: "tool"; toolCallId: string; name: string; content: string };

/**
 * What one thread's checkpoint holds (the Locus agent-state shape): the whole conversation,
 * how many agent iterations ran on it, and app data such as the thread's title.
 */
export interface AgentState {
  messages: Message[];
  iteration: number;
  metadata: { title?: string };
}

export function emptyState(): AgentState {
  return { messages: [], iteration: 0, metadata: {} };
}
