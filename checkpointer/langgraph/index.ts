// LangGraph.js on the module's MySQL database. The one part of checkpointer/ that needs
// @langchain/langgraph-checkpoint and @langchain/core: delete this folder if you do not use LangGraph.
export { MySQLSaver, type MySQLSaverOptions, type PruneStrategy } from "./saver.js";
