import { z } from "zod";
import type { ToolSpec } from "../models/model.js";

/** A function the model may call. Its zod schema validates the arguments and is the JSON Schema the model sees. */
export interface Tool<A extends z.ZodObject = z.ZodObject> {
  name: string;
  description: string;
  parameters: A;
  run(args: z.infer<A>): string;
}

/** Define a tool with its argument type inferred from the schema. */
export function defineTool<A extends z.ZodObject>(tool: Tool<A>): Tool {
  return tool as unknown as Tool;
}

/** The tools of one agent: their specs for the model, and a safe way to run a call. */
export class Toolbox {
  readonly #tools: Map<string, Tool>;
  readonly specs: readonly ToolSpec[];

  constructor(tools: readonly Tool[]) {
    this.#tools = new Map(tools.map((t) => [t.name, t]));
    this.specs = tools.map((t) => {
      const { $schema: _, ...parameters } = z.toJSONSchema(t.parameters);
      return { name: t.name, description: t.description, parameters };
    });
  }

  /**
   * Runs one call. Every failure (unknown tool, bad JSON, invalid arguments, the tool throwing)
   * becomes an `Error: …` result the model can read and correct, never an exception.
   */
  call(name: string, argumentsJson: string): string {
    const tool = this.#tools.get(name);
    if (!tool) return `Error: there is no tool named ${JSON.stringify(name)}`;
    let raw: unknown;
    try {
      raw = argumentsJson.trim() === "" ? {} : JSON.parse(argumentsJson);
    } catch {
      return "Error: the arguments are not valid JSON";
    }
    const args = tool.parameters.safeParse(raw);
    if (!args.success) return `Error: invalid arguments: ${z.prettifyError(args.error)}`;
    try {
      return tool.run(args.data);
    } catch (error) {
      return `Error: ${(error as Error).message}`;
    }
  }
}
