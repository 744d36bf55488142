import { describe, expect, it } from "vitest";
import { planCopy } from "../../src/runtime/memcached/launcher.js";
import { continuum, homeOf, lookup, oneAtATime, parseServer } from "../../src/runtime/memcached/placement.js";

/**
 * The launcher's copy of php-memcached's placement (libmemcached's ketama) and the copy plan built
 * on it. That the placement equals the extension's is proven against php-memcached itself in
 * memcached-launcher.e2e.test.ts; these pin its parts.
 */
const PREFIX = "memc.sess.key.";
const servers = ["127.0.0.1:21101", "127.0.0.1:21102", "127.0.0.1:21103"].map(parseServer);
const FULL = continuum(servers);
const ids = Array.from({ length: 3000 }, (_, i) => `s${i.toString(36)}x${(i * 7919).toString(36)}`);

describe("placement", () => {
  it("one-at-a-time: libhashkit's values", () => {
    // Jenkins' published values for one_at_a_time
    expect(oneAtATime("")).toBe(0);
    expect(oneAtATime("a")).toBe(0xca2e9442);
    expect(oneAtATime("The quick brown fox jumps over the lazy dog")).toBe(0x519e91f5);
    expect(oneAtATime("abc")).not.toBe(oneAtATime("acb"));
  });

  it("parses session.save_path entries, with the default port and IPv6 brackets", () => {
    expect(parseServer("10.0.0.1:11211")).toEqual({ host: "10.0.0.1", port: 11211 });
    expect(parseServer("memcached1")).toEqual({ host: "memcached1", port: 11211 });
    expect(parseServer("[::1]:21101")).toEqual({ host: "::1", port: 21101 });
  });

  it("the continuum has 100 points per live server, sorted, and lookups wrap around", () => {
    const points = continuum(servers);
    expect(points).toHaveLength(300);
    for (let i = 1; i < points.length; i++)
      expect(points[i - 1]?.value).toBeLessThanOrEqual(points[i]?.value as number);
    const without = continuum(servers, [true, false, true]);
    expect(without).toHaveLength(200);
    expect(without.some((p) => p.index === 1)).toBe(false);
    const last = points[points.length - 1]?.value as number;
    expect(lookup(points, last + 1)).toBe(points[0]?.index);
    expect(lookup(points, 0)).toBe(points[0]?.index);
  });

  it("spreads keys over every server and puts a replica on the next index", () => {
    const counts: number[] = [0, 0, 0];
    for (const id of ids) {
      const home = homeOf(id, servers, 1, FULL);
      expect(home).toHaveLength(2);
      expect(home[1]).toBe(((home[0] as number) + 1) % 3);
      const primary = home[0] as number;
      counts[primary] = (counts[primary] ?? 0) + 1;
    }
    for (const c of counts) expect(c).toBeGreaterThan(600); // roughly a third each
    expect(homeOf(ids[0] as string, servers, 5)).toHaveLength(3); // never more copies than servers
  });

  it("removing a server moves only its keys (consistent hashing)", () => {
    const full = continuum(servers);
    const away = continuum(servers, [true, false, true]);
    for (const id of ids) {
      const before = lookup(full, oneAtATime(id));
      const after = lookup(away, oneAtATime(id));
      if (before !== 1) expect(after).toBe(before);
      else expect(after).not.toBe(1);
    }
  });
});

describe("planCopy", () => {
  const keys = [
    ...ids.map((id) => `${PREFIX}${id}`),
    ...ids.slice(0, 50).map((id) => `${PREFIX}lock.${id}`),
    "other.key",
    `${PREFIX}bad key`,
  ];

  it("the keys a node holds as primary or replica, from where the clients read them while it was away", () => {
    const live = [true, true, true];
    const plan = planCopy(keys, { servers, index: 1, replicas: 1, prefix: PREFIX, live });
    const away = continuum(servers, [true, false, true]);
    let primaries = 0;
    for (const id of ids) {
      const home = homeOf(id, servers, 1, FULL);
      const key = `${PREFIX}${id}`;
      expect(plan.has(key)).toBe(home.includes(1));
      if (!home.includes(1)) continue;
      if (home[0] === 1) {
        primaries++;
        expect(plan.get(key)).toBe(lookup(away, oneAtATime(id)));
      } else expect(plan.get(key)).toBe(home[0]);
    }
    expect(primaries).toBeGreaterThan(600);
    // never a lock, nothing outside the session prefix, no key that is not a session id
    for (const key of plan.keys()) {
      expect(key.startsWith(`${PREFIX}lock.`)).toBe(false);
      expect(key.startsWith(PREFIX)).toBe(true);
      expect(key).not.toContain(" ");
    }
  });

  it("only from live servers, and nothing when none holds a copy", () => {
    const plan = planCopy(keys, {
      servers,
      index: 1,
      replicas: 1,
      prefix: PREFIX,
      live: [false, true, true],
    });
    for (const source of plan.values()) expect(source).toBe(2);
    const none = planCopy(keys, {
      servers,
      index: 1,
      replicas: 1,
      prefix: PREFIX,
      live: [false, true, false],
    });
    expect(none.size).toBe(0);
  });

  it("with replicas 0, a node's keys come from wherever the live ring put them", () => {
    const two = servers.slice(0, 2);
    const plan = planCopy(keys, { servers: two, index: 0, replicas: 0, prefix: PREFIX, live: [true, true] });
    for (const [key, source] of plan) {
      expect(homeOf(key.slice(PREFIX.length), two, 0)).toEqual([0]);
      expect(source).toBe(1);
    }
  });
});
