import { describe, expect, it } from "vitest";
import {
  type ContainerInfo,
  composeArgs,
  composeArgv,
  composeGeneration,
  containerState,
  curlArgs,
  lastLines,
  listContainersArgs,
  looksLikePullFailure,
  MEMCACHED_GET_SCRIPT,
  parseCurlReply,
  parseIds,
  parseInspect,
  parseMemcachedGet,
  parsePids,
  pickContainer,
  STORE_KEY_PATTERN,
  toComposeCli,
} from "../../src/runtime/compose/compose-cli.js";

const enc = (s: string) => Buffer.from(s, "utf8");

describe("compose flavours", () => {
  it("tells v1 from v2 and later by the major version", () => {
    expect(composeGeneration("1.29.2")).toBe("v1");
    expect(composeGeneration("v2.27.0")).toBe("v2");
    expect(composeGeneration("2.21.0")).toBe("v2");
    expect(composeGeneration("5.5.0")).toBe("v2");
    expect(toComposeCli({ command: ["docker-compose"], version: "1.29.2" })).toEqual({
      command: ["docker-compose"],
      version: "1.29.2",
      generation: "v1",
    });
  });

  it("builds argv with -p and -f before the subcommand, for the plugin and the standalone binary", () => {
    expect(composeArgv({ command: ["docker", "compose"] }, "shop", "/s/docker-compose.yml", ["ps"])).toEqual({
      file: "docker",
      args: ["compose", "-p", "shop", "-f", "/s/docker-compose.yml", "ps"],
    });
    expect(composeArgv({ command: ["docker-compose"] }, "shop", "dc.yml", composeArgs.kill("app1"))).toEqual({
      file: "docker-compose",
      args: ["-p", "shop", "-f", "dc.yml", "kill", "-s", "SIGKILL", "app1"],
    });
  });

  it("has the subcommands the driver runs", () => {
    expect(composeArgs.build({ generation: "v1" }, ["memcached1", "app1", "lb"])).toEqual([
      "build",
      "--parallel",
      "memcached1",
      "app1",
      "lb",
    ]);
    expect(composeArgs.build({ generation: "v2" }, ["lb"])).toEqual(["build", "lb"]);
    expect(composeArgs.upService("app2")).toEqual(["up", "-d", "--no-deps", "--no-build", "app2"]);
    expect(composeArgs.down()).toEqual(["down", "-v", "--remove-orphans", "-t", "5"]);
    expect(composeArgs.stop("app1", 35)).toEqual(["stop", "-t", "35", "app1"]);
  });
});

describe("listing containers", () => {
  it("filters by the Compose labels, for a project or one service", () => {
    expect(listContainersArgs("shop")).toEqual([
      "ps",
      "-a",
      "-q",
      "--no-trunc",
      "--filter",
      "label=com.docker.compose.project=shop",
    ]);
    expect(listContainersArgs("shop", "app1").slice(-2)).toEqual([
      "--filter",
      "label=com.docker.compose.service=app1",
    ]);
  });

  it("reads ids, one a line", () => {
    expect(
      parseIds("5666f89c81f4bcfe\n34cab3bf47cd4fece591c325a3ed4d577d85d0afdc1d08b9e050c06b2d698eb2\n\n"),
    ).toEqual(["5666f89c81f4bcfe", "34cab3bf47cd4fece591c325a3ed4d577d85d0afdc1d08b9e050c06b2d698eb2"]);
    expect(parseIds("")).toEqual([]);
  });

  // recorded from dockerd 20.10 + docker-compose 1.29.2 (trimmed): app2 SIGKILLed, app1 healthy
  const recorded = JSON.stringify([
    {
      Id: "5666f89c81f4bcfef5d20543b748a66334be762ef9284bba4380917f6a5378d4",
      Name: "/cxtest_app2_1",
      State: {
        Status: "exited",
        Running: false,
        OOMKilled: false,
        Pid: 0,
        ExitCode: 137,
        StartedAt: "2026-11-22T02:12:23.144175992Z",
        Health: { Status: "unhealthy", FailingStreak: 0, Log: [{ ExitCode: 0, Output: "" }] },
      },
      Config: {
        Labels: {
          "com.docker.compose.oneoff": "False",
          "com.docker.compose.project": "cxtest",
          "com.docker.compose.service": "app2",
          "com.docker.compose.version": "1.29.2",
        },
      },
    },
    {
      Id: "34cab3bf47cd4fece591c325a3ed4d577d85d0afdc1d08b9e050c06b2d698eb2",
      Name: "/cxtest_app1_1",
      State: {
        Status: "running",
        Running: true,
        Pid: 12338,
        ExitCode: 0,
        StartedAt: "2026-11-22T02:12:20.942823045Z",
        Health: { Status: "healthy", Log: [{ ExitCode: 0, Output: "" }] },
      },
      Config: {
        Labels: { "com.docker.compose.project": "cxtest", "com.docker.compose.service": "app1" },
      },
    },
    {
      Id: "aaaa",
      Name: "/cxtest_app1_run_1",
      State: { Status: "running", Pid: 1 },
      Config: {
        Labels: {
          "com.docker.compose.project": "cxtest",
          "com.docker.compose.service": "app1",
          "com.docker.compose.oneoff": "True",
        },
      },
    },
  ]);

  it("parses docker inspect into Compose containers, leaving out one-off containers", () => {
    const cs = parseInspect(recorded);
    expect(cs.map((c) => `${c.name}:${c.service}:${c.status}`)).toEqual([
      "cxtest_app2_1:app2:exited",
      "cxtest_app1_1:app1:running",
    ]);
    expect(cs[0]).toMatchObject({ exitCode: 137, health: "unhealthy", pid: 0, project: "cxtest" });
    expect(cs[1]).toMatchObject({ pid: 12338, health: "healthy", healthOutput: undefined });
    expect(() => parseInspect("Error: No such object: x")).toThrow(/no JSON array/);
    expect(parseInspect("[]\n")).toEqual([]);
  });

  it("maps container state to node state: a killed container is stopped whatever its last health", () => {
    const [app2, app1] = parseInspect(recorded);
    expect(containerState(app2)).toEqual({ state: "stopped", detail: "exited (137)" });
    expect(containerState(app1)).toEqual({ state: "running", pid: 12338 });
    expect(containerState(undefined)).toEqual({ state: "stopped", detail: "no container" });
    const base = app1 as ContainerInfo;
    expect(containerState({ ...base, health: "starting" })).toEqual({
      state: "unhealthy",
      pid: 12338,
      detail: "health: starting",
    });
    expect(
      containerState({ ...base, health: "unhealthy", healthOutput: "curl: (7) Failed to connect\nmore" }),
    ).toEqual({
      state: "unhealthy",
      pid: 12338,
      detail: "health: unhealthy (curl: (7) Failed to connect)",
    });
    expect(containerState({ ...base, health: undefined })).toMatchObject({ state: "running" });
    expect(containerState({ ...base, status: "created", pid: 0 })).toMatchObject({ state: "stopped" });
    expect(containerState({ ...base, status: "exited", exitCode: 137, oomKilled: true }).detail).toBe(
      "exited (137, out of memory)",
    );
  });

  it("picks the running container of a service, else the newest", () => {
    const [app2, app1] = parseInspect(recorded) as [ContainerInfo, ContainerInfo];
    const old = { ...app1, id: "old", status: "exited", startedAt: "2026-01-01T00:00:00Z" };
    expect(pickContainer([old, app1, app2], "app1")?.id).toBe(app1.id);
    const newer = { ...old, id: "newer", startedAt: "2026-12-01T00:00:00Z" };
    expect(pickContainer([old, newer], "app1")?.id).toBe("newer");
    expect(pickContainer([app2], "app1")).toBeUndefined();
  });
});

describe("HTTP through curl in a container", () => {
  it("passes headers as separate argv elements and disables URL globbing", () => {
    expect(curlArgs("/.phpcluster/probe.php?a=[1]", { "X-Phpcluster-Secret": "abc def" })).toEqual([
      "curl",
      "-sS",
      "-i",
      "-g",
      "--path-as-is",
      "--max-time",
      "30",
      "-H",
      "X-Phpcluster-Secret: abc def",
      "http://127.0.0.1/.phpcluster/probe.php?a=[1]",
    ]);
    expect(() => curlArgs("http://x/", {})).toThrow(/not a request path/);
    expect(() => curlArgs("/a b", {})).toThrow(/not a request path/);
    expect(() => curlArgs("/", { "X-A": "1\r\nX-B: 2" })).toThrow(/line break/);
    expect(() => curlArgs("/", { "Bad Name": "1" })).toThrow(/header name/);
  });

  it("parses status, lower-case headers and the body byte for byte", () => {
    const raw =
      "HTTP/1.1 200 OK\r\nDate: Sun, 22 Nov 2026 02:11:50 GMT\r\nX-Served-By: app2\r\n" +
      "Set-Cookie: a=1; path=/\r\nSet-Cookie: b=2\r\nContent-Type: application/json\r\n\r\n" +
      '{"node":"app2"}\n\r\n\r\nnot a header';
    const r = parseCurlReply(enc(raw));
    expect(r.status).toBe(200);
    expect(r.headers["x-served-by"]).toBe("app2");
    expect(r.headers["set-cookie"]).toBe("a=1; path=/, b=2");
    expect(r.body).toBe('{"node":"app2"}\n\r\n\r\nnot a header');
  });

  it("skips an interim 100 Continue and keeps an empty body", () => {
    const r = parseCurlReply(
      enc("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 503 Service Unavailable\r\nRetry-After: 1\r\n\r\n"),
    );
    expect(r).toEqual({ status: 503, headers: { "retry-after": "1" }, body: "" });
    expect(parseCurlReply(enc("HTTP/2 204\r\n\r\n")).status).toBe(204);
    expect(() => parseCurlReply(enc("curl: (7) Failed to connect"))).toThrow(/no HTTP status line/);
  });
});

describe("Memcached get through bash in a container", () => {
  it("validates keys before they reach a container", () => {
    expect(STORE_KEY_PATTERN.test("memc.sess.key.3db301492b5956804b7b7bc270c51bc9")).toBe(true);
    for (const bad of ["", "a b", "a\r\nflush_all", "x".repeat(251), "$(reboot)", "ключ"]) {
      expect(STORE_KEY_PATTERN.test(bad), bad).toBe(false);
    }
  });

  it("takes the key as $1, never inside the script", () => {
    expect(MEMCACHED_GET_SCRIPT).toContain('printf "get %s\\r\\n" "$1"');
    expect(MEMCACHED_GET_SCRIPT).toContain("/dev/tcp/127.0.0.1/11211");
  });

  it("parses a hit, a miss and errors", () => {
    const key = "memc.sess.key.3db3";
    expect(parseMemcachedGet(enc(`VALUE ${key} 0 6\r\nn|i:4;\r\nEND\r\n`), key)).toBe("n|i:4;");
    // data may hold CR LF and the word END
    expect(parseMemcachedGet(enc(`VALUE ${key} 0 9\r\na\r\nEND\r\nb\r\nEND\r\n`), key)).toBe("a\r\nEND\r\nb");
    expect(parseMemcachedGet(enc(`VALUE ${key} 3 0 77\r\n\r\nEND\r\n`), key)).toBe("");
    expect(parseMemcachedGet(enc("END\r\n"), key)).toBeUndefined();
    expect(() => parseMemcachedGet(enc(`VALUE ${key} 0 10\r\nshort\r\nEND\r\n`), key)).toThrow(/incomplete/);
    expect(() => parseMemcachedGet(enc("SERVER_ERROR out of memory\r\n"), key)).toThrow(/SERVER_ERROR/);
    expect(() => parseMemcachedGet(enc(""), key)).toThrow(/incomplete/);
    expect(() => parseMemcachedGet(enc("VALUE other 0 1\r\nx\r\nEND\r\n"), key)).toThrow(/not memc/);
  });
});

describe("small parsers", () => {
  it("reads pids, last lines and pull failures", () => {
    expect(parsePids("8\n9\n\nx\n")).toEqual([8, 9]);
    expect(lastLines("a\r\n\nb\nc\n", 2)).toEqual(["b", "c"]);
    expect(
      looksLikePullFailure(
        "Service 'app1' failed to build : Get \"https://registry-1.docker.io/v2/\": dial tcp: lookup registry-1.docker.io on 10.255.255.53:53: no such host",
      ),
    ).toBe(true);
    expect(looksLikePullFailure("pull access denied for phpcluster/nope, repository does not exist")).toBe(
      true,
    );
    expect(looksLikePullFailure("E: Unable to locate package php-nope")).toBe(false);
  });
});
