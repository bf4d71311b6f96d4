/** `cloudflare:workers` outside workerd: the document needs the app's routes, never a Durable Object. */
export class DurableObject {}
