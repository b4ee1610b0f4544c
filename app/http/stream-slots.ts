/**
 * How many event streams each tenant has open, against a cap: a stream holds a connection and a
 * turn for as long as the model writes (300 at once took 240 MB in issue 21), so one tenant must
 * not be able to open them without end.
 */
export class StreamSlots {
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
