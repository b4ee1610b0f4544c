# The agent app. Multi-stage: compile TypeScript with the dev dependencies, then run the
# compiled JavaScript with production dependencies only, as the unprivileged `node` user.
# No secrets here: passwords and keys arrive as environment variables at run time.

FROM node:24-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: the compiler needs no native add-ons (some dev dependencies build one).
RUN npm ci --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY checkpointer ./checkpointer
COPY app ./app
RUN npm run build

FROM node:24-slim AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts

FROM node:24-slim
ENV NODE_ENV=production HOST=0.0.0.0 PORT=3000
WORKDIR /app
COPY --from=prod-deps /app/node_modules ./node_modules
COPY package.json ./
COPY --from=build /app/dist ./dist
# The SQLite store's default directory (data/checkpoints.db), for runs without MYSQL_URL.
RUN mkdir data && chown node:node data
USER node
EXPOSE 3000
HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.PORT || 3000) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# node itself as PID 1's child-free process (not npm), so SIGTERM reaches the app's graceful shutdown.
CMD ["node", "dist/app/main.js"]
