/**
 * The order jobs run in, and the cycles that prevent one. Jobs are numbered by declaration order;
 * `needs[i]` holds the numbers of the jobs job `i` needs (known jobs only, no self-needs).
 */
export interface JobOrder {
  /** Every job after all it needs, ties broken by declaration order; shorter than the job count on a cycle. */
  readonly order: number[];
  /**
   * One cycle per strongly connected group of jobs, as the path `[a, b, c]` where each job needs the
   * next and the last needs the first. Empty when the graph is acyclic.
   */
  readonly cycles: number[][];
}

export function orderJobs(needs: ReadonlyArray<readonly number[]>): JobOrder {
  const count = needs.length;
  const pending = new Int32Array(count);
  const dependants: number[][] = Array.from({ length: count }, () => []);
  for (let job = 0; job < count; job++) {
    const list = needs[job]!;
    pending[job] = list.length;
    for (const need of list) dependants[need]!.push(job);
  }

  // Kahn's algorithm; the ready set is a min-heap of declaration numbers, so among the jobs that are
  // ready the one declared first goes first.
  const ready = new MinHeap();
  for (let job = 0; job < count; job++) if (pending[job] === 0) ready.push(job);
  const order: number[] = [];
  while (ready.size > 0) {
    const job = ready.pop();
    order.push(job);
    for (const dependant of dependants[job]!) {
      const left = pending[dependant]! - 1;
      pending[dependant] = left;
      if (left === 0) ready.push(dependant);
    }
  }
  if (order.length === count) return { order, cycles: [] };
  return { order, cycles: findCycles(needs, dependants, pending) };
}

/**
 * Jobs with pending needs after Kahn's algorithm are on a cycle or downstream of one. Those that no
 * other such job needs are trimmed first (repeatedly), so the cycle search sees only the jobs
 * on or between cycles.
 */
function findCycles(
  needs: ReadonlyArray<readonly number[]>,
  dependants: ReadonlyArray<readonly number[]>,
  pending: Int32Array,
): number[][] {
  const count = needs.length;
  const stuck = new Uint8Array(count);
  const neededBy = new Int32Array(count);
  for (let job = 0; job < count; job++) if (pending[job]! > 0) stuck[job] = 1;
  for (let job = 0; job < count; job++) {
    if (!stuck[job]) continue;
    let users = 0;
    for (const dependant of dependants[job]!) if (stuck[dependant]) users++;
    neededBy[job] = users;
  }
  const trim: number[] = [];
  for (let job = 0; job < count; job++) if (stuck[job] && neededBy[job] === 0) trim.push(job);
  while (trim.length > 0) {
    const job = trim.pop()!;
    stuck[job] = 0;
    for (const need of needs[job]!) {
      if (!stuck[need]) continue;
      const left = neededBy[need]! - 1;
      neededBy[need] = left;
      if (left === 0) trim.push(need);
    }
  }

  const cycles: number[][] = [];
  for (const component of stronglyConnected(needs, stuck)) {
    let start = count;
    for (const member of component) if (member < start) start = member;
    cycles.push(shortestCycleThrough(start, new Set(component), needs));
  }
  return cycles.sort((a, b) => a[0]! - b[0]!);
}

/**
 * The groups of two or more `stuck` jobs that need each other in a circle (strongly connected
 * components), by Tarjan's algorithm with an explicit stack: a chain of thousands of jobs must not
 * exhaust the call stack.
 */
function stronglyConnected(needs: ReadonlyArray<readonly number[]>, stuck: Uint8Array): number[][] {
  const count = needs.length;
  const index = new Int32Array(count).fill(-1);
  const low = new Int32Array(count);
  const onStack = new Uint8Array(count);
  const stack: number[] = [];
  const components: number[][] = [];
  let next = 0;
  const enter = (job: number, work: Array<[job: number, edge: number]>): void => {
    index[job] = low[job] = next++;
    stack.push(job);
    onStack[job] = 1;
    work.push([job, 0]);
  };
  for (let root = 0; root < count; root++) {
    if (!stuck[root] || index[root] !== -1) continue;
    const work: Array<[job: number, edge: number]> = [];
    enter(root, work);
    while (work.length > 0) {
      const frame = work[work.length - 1]!;
      const job = frame[0];
      const edges = needs[job]!;
      if (frame[1] < edges.length) {
        const need = edges[frame[1]++]!;
        if (!stuck[need]) continue;
        if (index[need] === -1) enter(need, work);
        else if (onStack[need]) low[job] = Math.min(low[job]!, index[need]!);
        continue;
      }
      work.pop();
      const parent = work[work.length - 1];
      if (parent !== undefined) low[parent[0]] = Math.min(low[parent[0]]!, low[job]!);
      if (low[job] !== index[job]) continue;
      const component: number[] = [];
      for (let member = -1; member !== job;) {
        member = stack.pop()!;
        onStack[member] = 0;
        component.push(member);
      }
      if (component.length > 1) components.push(component);
    }
  }
  return components;
}

/** Breadth-first search from `start` back to itself, inside one strongly connected group. */
function shortestCycleThrough(
  start: number,
  members: ReadonlySet<number>,
  needs: ReadonlyArray<readonly number[]>,
): number[] {
  const previous = new Map<number, number>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const job = queue[head]!;
    for (const need of needs[job]!) {
      if (!members.has(need)) continue;
      if (need === start) {
        const path = [job];
        for (let at = job; at !== start;) path.push((at = previous.get(at)!));
        return path.reverse();
      }
      if (!previous.has(need)) {
        previous.set(need, job);
        queue.push(need);
      }
    }
  }
  return [start];
}

class MinHeap {
  readonly #items: number[] = [];

  get size(): number {
    return this.#items.length;
  }

  push(value: number): void {
    const items = this.#items;
    let at = items.push(value) - 1;
    while (at > 0) {
      const parent = (at - 1) >> 1;
      if (items[parent]! <= value) break;
      items[at] = items[parent]!;
      at = parent;
    }
    items[at] = value;
  }

  pop(): number {
    const items = this.#items;
    const top = items[0]!;
    const last = items.pop()!;
    if (items.length > 0) {
      let at = 0;
      for (;;) {
        const left = 2 * at + 1;
        if (left >= items.length) break;
        const right = left + 1;
        const child = right < items.length && items[right]! < items[left]! ? right : left;
        if (items[child]! >= last) break;
        items[at] = items[child]!;
        at = child;
      }
      items[at] = last;
    }
    return top;
  }
}
