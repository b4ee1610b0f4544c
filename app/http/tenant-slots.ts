/**
 * How many of one costly kind of request each tenant has in flight, against a cap, so one tenant
 * cannot take what every tenant shares: event streams hold a connection and a turn for as long as
 * the model writes (300 at once took 240 MB), searches hold a pooled database connection (20 at
 * once exhausted the pool for every tenant).
 */
export class TenantSlots {
  readonly #open = new Map<string, number>();
  readonly perTenant: number;

  constructor(perTenant: number) {
    this.perTenant = perTenant;
  }

  /** Takes one of `tenant`'s slots and returns the function that gives it back (call it once), or undefined when all are taken. */
  take(tenant: string): (() => void) | undefined {
    const open = this.#open.get(tenant) ?? 0;
    if (open >= this.perTenant) return undefined;
    this.#open.set(tenant, open + 1);
    return () => {
      const left = this.#open.get(tenant)! - 1;
      if (left === 0) this.#open.delete(tenant);
      else this.#open.set(tenant, left);
    };
  }
}
