/** The playground's example batches (functions/pages/playground-page.ts): each shows one thing the waterfall draws. */

const QUICKSTART = {
  steps: [
    { id: "a", http: { url: "/v1/sim/delay/300" } },
    { id: "b", http: { url: "/v1/sim/delay/200" } },
    { id: "flags", kv: { keys: ["flags:web", "flags:beta"], type: "json" } },
    { id: "user", d1: { query: "userById", params: [1] } },
    { id: "orders", d1: { query: "ordersByUser", params: ["{{user.body[0].id}}"] } },
  ],
};

/** The select's examples: each shows one thing the waterfall draws. */
export const PLAYGROUND_EXAMPLES: Record<string, { label: string; batch: unknown }> = {
  quickstart: { label: "Quickstart (README)", batch: QUICKSTART },
  diamond: {
    label: "Diamond: one step, two branches, a join",
    batch: {
      steps: [
        { id: "start", http: { url: "/v1/sim/delay/100" } },
        { id: "left", http: { url: "/v1/sim/delay/150?after={{start.body.delayedMs}}" } },
        { id: "right", dependsOn: ["start"], http: { url: "/v1/sim/delay/350" } },
        { id: "join", dependsOn: ["left", "right"], wait: { ms: 50 } },
      ],
    },
  },
  forEach: {
    label: "forEach: one call per order",
    batch: {
      steps: [
        { id: "orders", d1: { query: "ordersByUser", params: [1] } },
        { id: "details", forEach: "{{orders.body}}", http: { url: "/v1/sim/delay/150?order={{item.id}}" } },
        { id: "done", dependsOn: ["details"], wait: { ms: 20 } },
      ],
    },
  },
  hedge: {
    label: "Hedge, retries, coalescing and a failure",
    batch: {
      steps: [
        { id: "hedged", http: { url: "/v1/sim/delay/400", hedge: { afterMs: 100 } } },
        { id: "retried", http: { url: "/v1/sim/flaky?failRate=0.5&seed=s291", retry: { attempts: 4, baseDelayMs: 50 } } },
        { id: "same1", http: { url: "/v1/sim/delay/250" } },
        { id: "same2", http: { url: "/v1/sim/delay/250" } },
        { id: "broken", http: { url: "/v1/sim/status/500" } },
        { id: "afterBroken", http: { url: "/v1/sim/delay/100?x={{broken.status}}" } },
      ],
    },
  },
  race: {
    label: "Race: the first settled step wins, the rest are cancelled",
    batch: {
      mode: "race",
      steps: [
        { id: "slow", http: { url: "/v1/sim/delay/600" } },
        { id: "fast", http: { url: "/v1/sim/delay/150" } },
        { id: "medium", http: { url: "/v1/sim/delay/350" } },
        { id: "later", dependsOn: ["slow"], wait: { ms: 10 } },
      ],
    },
  },
};
