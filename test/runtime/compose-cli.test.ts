import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { execa } from "execa";
import { afterAll, describe, expect, it } from "vitest";
import { buildServices, looksLikePullFailure } from "../../src/runtime/compose/build.js";
import {
  type ContainerInfo,
  containerFailed,
  containerState,
  listContainersArgs,
  listNetworksArgs,
  parseConfigHashes,
  parseIds,
  parseInspect,
  pickContainer,
} from "../../src/runtime/compose/containers.js";
import {
  compose,
  composeArgs,
  composeArgv,
  composeEnv,
  containerArgs,
  docker,
  failureText,
  type Ran,
} from "../../src/runtime/compose/exec.js";
import { composeGeneration, findCompose, toComposeCli } from "../../src/runtime/compose/flavour.js";
import {
  curlArgs,
  MEMCACHED_GET_SCRIPT,
  memcachedGetArgs,
  memcachedGetScript,
  NGINX_RELOAD_ARGS,
  NGINX_TEST_ARGS,
  NGINX_WORKERS_SCRIPT,
  nginxWorkersScript,
  parseCurlReply,
  parseMemcachedGetMulti,
  parseWorkers,
  STORE_KEY_PATTERN,
} from "../../src/runtime/compose/reads.js";
import type { Topology } from "../../src/topology/index.js";

const enc = (s: string) => Buffer.from(s, "utf8");

const tmp = mkdtempSync(path.join(os.tmpdir(), "phpcluster-compose-cli-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A directory with fake programs (shell scripts), to be the whole PATH of a command. */
function fakeBin(name: string, programs: Record<string, string>): string {
  const dir = path.join(tmp, name);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const [program, body] of Object.entries(programs)) {
    const file = path.join(dir, program);
    writeFileSync(file, `#!/bin/sh\n${body}\n`, { flag: "w", mode: 0o755 });
    chmodSync(file, 0o755);
  }
  return dir;
}

/** Prints its arguments one a line, `--`, its working directory, `--`, then its environment. */
const ECHO_ALL =
  'for a in "$@"; do printf "arg=%s\\n" "$a"; done; echo "cwd=$(pwd)"; /usr/bin/env | sed "s/^/env:/"';

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

  it("finds `docker compose` first, then `docker-compose`, on the PATH of the command's environment", async () => {
    const v1 = fakeBin("v1", {
      docker: "echo \"docker: 'compose' is not a docker command.\" >&2; exit 1",
      "docker-compose": '[ "$1 $2" = "version --short" ] && echo 1.29.2',
    });
    expect(await findCompose({ PATH: v1 })).toEqual({
      command: ["docker-compose"],
      version: "1.29.2",
      generation: "v1",
    });
    const v2 = fakeBin("v2", {
      docker: '[ "$1 $2 $3" = "compose version --short" ] && echo v2.27.0',
      "docker-compose": "echo 1.29.2",
    });
    expect(await findCompose({ PATH: v2 })).toMatchObject({
      command: ["docker", "compose"],
      generation: "v2",
    });
    expect(await findCompose({ PATH: path.join(tmp, "nowhere") })).toBeUndefined();
  });
});

describe("running docker and compose", () => {
  it("builds argv with -p and -f before the subcommand, for the plugin and the standalone binary", () => {
    expect(composeArgv({ command: ["docker", "compose"] }, "shop", "/s/docker-compose.yml", ["ps"])).toEqual({
      file: "docker",
      args: ["compose", "-p", "shop", "-f", "/s/docker-compose.yml", "ps"],
    });
    expect(
      composeArgv({ command: ["docker-compose"] }, "shop", "dc.yml", composeArgs.upService("app1")),
    ).toEqual({
      file: "docker-compose",
      args: ["-p", "shop", "-f", "dc.yml", "up", "-d", "--no-deps", "--no-build", "app1"],
    });
    expect(() => composeArgv({ command: [] }, "shop", "dc.yml", [])).toThrow(/empty/);
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
    expect(composeArgs.configHashes()).toEqual(["config", "--hash", "*"]);
  });

  it("stops, kills and starts one container by its id, not by service", () => {
    expect(containerArgs.stop("34cab3bf47cd", 35)).toEqual(["stop", "-t", "35", "34cab3bf47cd"]);
    expect(containerArgs.kill("34cab3bf47cd")).toEqual(["kill", "-s", "SIGKILL", "34cab3bf47cd"]);
    expect(containerArgs.start("34cab3bf47cd")).toEqual(["start", "34cab3bf47cd"]);
  });

  it("reads each service's config hash from `config --hash`, skipping lines of another shape", () => {
    const h1 = "5d3c1e6f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d";
    const h2 = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    expect(parseConfigHashes(`memcached1 ${h1}\napp1 ${h2}\nWARNING: something\n\n`)).toEqual({
      memcached1: h1,
      app1: h2,
    });
    expect(parseConfigHashes("app1 not-a-hash\n")).toEqual({});
  });

  it("gives Compose the command's environment, the probe secret and the classic builder", () => {
    expect(composeEnv({ PATH: "/p", DOCKER_HOST: "unix:///x" }, "s3cret")).toEqual({
      PATH: "/p",
      DOCKER_HOST: "unix:///x",
      PHPCLUSTER_PROBE_SECRET: "s3cret",
      COMPOSE_DOCKER_CLI_BUILD: "0",
      DOCKER_BUILDKIT: "0",
      NO_COLOR: "1",
    });
  });

  it("runs docker with the given environment only, arguments as they are, no shell", async () => {
    const bin = fakeBin("echo", { docker: ECHO_ALL });
    process.env.PHPCLUSTER_TEST_LEAK = "from this process";
    try {
      const r = await docker({ PATH: `${bin}:/usr/bin:/bin`, DOCKER_HOST: "tcp://h:1" }, [
        "exec",
        "a b",
        "$(echo no)",
        "c;d",
      ]);
      expect(r.exitCode).toBe(0);
      const lines = r.stdout.split("\n");
      expect(lines.filter((l) => l.startsWith("arg="))).toEqual([
        "arg=exec",
        "arg=a b",
        "arg=$(echo no)",
        "arg=c;d",
      ]);
      expect(lines).toContain("env:DOCKER_HOST=tcp://h:1");
      expect(lines).toContain("env:NO_COLOR=1");
      expect(r.stdout).not.toContain("PHPCLUSTER_TEST_LEAK");
      expect(r.raw.toString("utf8")).toBe(r.stdout);
    } finally {
      delete process.env.PHPCLUSTER_TEST_LEAK;
    }
  });

  it("runs compose in the render directory with -p, -f and the secret", async () => {
    const bin = fakeBin("compose", { "docker-compose": ECHO_ALL });
    const r = await compose(
      {
        cli: { command: ["docker-compose"], version: "1.29.2", generation: "v1" },
        project: "shop",
        file: "/r/docker-compose.yml",
        cwd: tmp,
        env: { PATH: `${bin}:/usr/bin:/bin` },
        secret: "s3cret",
      },
      composeArgs.upService("app1"),
    );
    const lines = r.stdout.split("\n");
    expect(lines.filter((l) => l.startsWith("arg="))).toEqual(
      ["-p", "shop", "-f", "/r/docker-compose.yml", "up", "-d", "--no-deps", "--no-build", "app1"].map(
        (a) => `arg=${a}`,
      ),
    );
    expect(lines).toContain(`cwd=${tmp}`);
    expect(lines).toContain("env:PHPCLUSTER_PROBE_SECRET=s3cret");
    expect(lines).toContain("env:DOCKER_BUILDKIT=0");
  });

  it("reports a missing program and a time-out without rejecting", async () => {
    const missing = await docker({ PATH: path.join(tmp, "nowhere") }, ["ps"]);
    expect(missing.exitCode).toBeUndefined();
    expect(failureText(missing, 5).join("\n")).toMatch(/ENOENT|not found/i);
    const bin = fakeBin("slow", { docker: "exec sleep 5" });
    const slow = await docker({ PATH: `${bin}:/usr/bin:/bin` }, ["ps"], { timeoutMs: 200 });
    expect(slow.timedOut).toBe(true);
    expect(slow.exitCode).toBeUndefined();
  });

  it("says what failed with the last lines of the output", () => {
    const r: Ran = {
      exitCode: 1,
      raw: Buffer.alloc(0),
      stdout: "",
      stderr: "",
      all: "Creating app1 ...\r\n\nERROR: for app1  Cannot start service app1\nError: boom\n",
      timedOut: false,
      cancelled: false,
      shortMessage: "Command failed with exit code 1",
    };
    expect(failureText(r, 2)).toEqual(["ERROR: for app1  Cannot start service app1", "Error: boom"]);
    expect(failureText({ ...r, all: "" }, 2)).toEqual(["Command failed with exit code 1"]);
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
    expect(listNetworksArgs("shop")).toEqual([
      "network",
      "ls",
      "-q",
      "--filter",
      "label=com.docker.compose.project=shop",
    ]);
  });

  it("reads ids, one a line", () => {
    expect(
      parseIds("5666f89c81f4bcfe\n34cab3bf47cd4fece591c325a3ed4d577d85d0afdc1d08b9e050c06b2d698eb2\n\n"),
    ).toEqual(["5666f89c81f4bcfe", "34cab3bf47cd4fece591c325a3ed4d577d85d0afdc1d08b9e050c06b2d698eb2"]);
    expect(parseIds("")).toEqual([]);
    expect(parseIds("Cannot connect to the Docker daemon\n")).toEqual([]);
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
        Labels: {
          "com.docker.compose.project": "cxtest",
          "com.docker.compose.service": "app1",
          "com.docker.compose.config-hash":
            "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        },
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
    expect(cs[0]?.configHash).toBeUndefined();
    expect(cs[1]?.configHash).toBe("0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef");
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

  it("says when waiting cannot make a container healthy", () => {
    const [app2, app1] = parseInspect(recorded) as [ContainerInfo, ContainerInfo];
    expect(containerFailed(undefined)).toBe(true);
    expect(containerFailed(app2)).toBe(true); // exited, though its last health was unhealthy
    expect(containerFailed(app1)).toBe(false);
    expect(containerFailed({ ...app1, health: "starting" })).toBe(false);
    expect(containerFailed({ ...app1, health: "unhealthy" })).toBe(true);
    expect(containerFailed({ ...app1, status: "restarting", health: "unhealthy" })).toBe(false);
    expect(containerFailed({ ...app1, status: "created" })).toBe(true);
    expect(containerFailed({ ...app1, status: "paused" })).toBe(true);
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

describe("building images", () => {
  it("builds one service per image, memcached, app and balancer", () => {
    const t = { app: { replicas: 3 }, memcached: { nodes: 2 } } as Topology;
    expect(buildServices(t)).toEqual(["memcached1", "app1", "lb"]);
  });

  it("recognises an image that could not be pulled", () => {
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

describe("Memcached multi-key get through bash in a container", () => {
  const sid = (n: number) => `memc.sess.key.3db3${n}`;

  it("validates keys before they reach a container", () => {
    expect(STORE_KEY_PATTERN.test("memc.sess.key.3db301492b5956804b7b7bc270c51bc9")).toBe(true);
    for (const bad of ["", "a b", "a\r\nflush_all", "x".repeat(251), "$(reboot)", "ключ"]) {
      expect(STORE_KEY_PATTERN.test(bad), bad).toBe(false);
      expect(() => memcachedGetArgs([sid(1), bad]), bad).toThrow(/not a Memcached key/);
    }
  });

  it("takes the keys as positional arguments, never inside the script", () => {
    const args = memcachedGetArgs([sid(1), sid(2)]);
    expect(args).toEqual(["bash", "-c", MEMCACHED_GET_SCRIPT, "phpcluster-get", sid(1), sid(2)]);
    expect(MEMCACHED_GET_SCRIPT).toContain('"$@"');
    expect(MEMCACHED_GET_SCRIPT).toContain("/dev/tcp/127.0.0.1/11211");
    expect(MEMCACHED_GET_SCRIPT).not.toContain(sid(1));
  });

  it("parses hits and leaves misses out", () => {
    const raw = enc(`VALUE ${sid(1)} 0 6\r\nn|i:4;\r\nVALUE ${sid(3)} 3 0 77\r\n\r\nEND\r\n`);
    expect(parseMemcachedGetMulti(raw, [sid(1), sid(2), sid(3)])).toEqual({
      [sid(1)]: "n|i:4;",
      [sid(3)]: "",
    });
    expect(parseMemcachedGetMulti(enc("END\r\n"), [sid(1), sid(2)])).toEqual({});
  });

  it("reads a value by its byte count: it may hold CR LF, VALUE and END", () => {
    const value = "a\r\nEND\r\nVALUE x 0 1\r\nb";
    const raw = enc(
      `VALUE ${sid(1)} 0 ${Buffer.byteLength(value)}\r\n${value}\r\nVALUE ${sid(2)} 0 2\r\nok\r\nEND\r\n`,
    );
    expect(parseMemcachedGetMulti(raw, [sid(1), sid(2)])).toEqual({ [sid(1)]: value, [sid(2)]: "ok" });
    const utf8 = "ключ→";
    expect(
      parseMemcachedGetMulti(enc(`VALUE ${sid(1)} 0 ${Buffer.byteLength(utf8)}\r\n${utf8}\r\nEND\r\n`), [
        sid(1),
      ]),
    ).toEqual({ [sid(1)]: utf8 });
  });

  it("keeps a key named __proto__ as a key", () => {
    const found = parseMemcachedGetMulti(enc("VALUE __proto__ 0 1\r\nx\r\nEND\r\n"), ["__proto__"]);
    expect(Object.keys(found)).toEqual(["__proto__"]);
    expect(Object.getPrototypeOf(found)).toBe(Object.prototype);
  });

  it("treats a truncated answer as an error, never as a miss", () => {
    const keys = [sid(1), sid(2)];
    for (const truncated of [
      "",
      "END",
      `VALUE ${sid(1)} 0 6\r\nn|i:4;\r\n`, // no END
      `VALUE ${sid(1)} 0 10\r\nshort\r\nEND\r\n`, // fewer bytes than announced
      `VALUE ${sid(1)} 0 6\r\nn|i:4;`, // cut inside the trailer
      `VALUE ${sid(1)} 0 6`,
    ]) {
      expect(() => parseMemcachedGetMulti(enc(truncated), keys), JSON.stringify(truncated)).toThrow(
        /incomplete/,
      );
    }
  });

  it("rejects error lines, keys not asked for and output after END", () => {
    expect(() => parseMemcachedGetMulti(enc("SERVER_ERROR out of memory\r\n"), [sid(1)])).toThrow(
      /memcached answered: SERVER_ERROR out of memory/,
    );
    expect(() => parseMemcachedGetMulti(enc("VALUE other 0 1\r\nx\r\nEND\r\n"), [sid(1)])).toThrow(
      /other, which was not asked for/,
    );
    expect(() => parseMemcachedGetMulti(enc("END\r\nEND\r\n"), [sid(1)])).toThrow(/after END/);
  });

  describe("the script, against a fake memcached on this host", () => {
    let lastRequest = "";
    let answer: (keys: string[]) => string = () => "END\r\n";
    const server = net.createServer((socket) => {
      let buffered = "";
      socket.on("data", (d) => {
        buffered += d.toString("latin1");
        const nl = buffered.indexOf("\r\n");
        if (nl < 0) return;
        lastRequest = buffered.slice(0, nl);
        const text = answer(lastRequest.split(" ").slice(1));
        if (text.endsWith("|close")) socket.end(text.slice(0, -"|close".length), "latin1");
        else socket.write(text, "latin1");
      });
      socket.on("error", () => {});
    });
    let port = 0;
    const get = async (keys: string[]) => {
      if (port === 0) {
        await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
        port = (server.address() as net.AddressInfo).port;
      }
      const [file, ...args] = memcachedGetArgs(keys, memcachedGetScript(port)) as [string, ...string[]];
      return execa(file, args, {
        reject: false,
        encoding: "buffer",
        stripFinalNewline: false,
        timeout: 15_000,
      });
    };
    afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

    it("sends one get with every key and passes the answer through byte for byte", async () => {
      const value = 'a|s:3:"x\r\n";\r\nEND\r\n';
      answer = (keys) =>
        `VALUE ${keys[0]} 0 ${Buffer.byteLength(value)}\r\n${value}\r\nVALUE ${keys[2]} 1 2\r\nok\r\nEND\r\n`;
      const r = await get([sid(1), sid(2), sid(3)]);
      expect(lastRequest).toBe(`get ${sid(1)} ${sid(2)} ${sid(3)}`);
      expect(r.exitCode).toBe(0);
      expect(parseMemcachedGetMulti(r.stdout, [sid(1), sid(2), sid(3)])).toEqual({
        [sid(1)]: value,
        [sid(3)]: "ok",
      });
    });

    it("never runs what is in an argument", async () => {
      answer = () => "END\r\n";
      const marker = path.join(tmp, "pwned");
      // bypassing the validation on purpose: even then an argument stays data
      const [, , script] = memcachedGetArgs([sid(1)], memcachedGetScript(port));
      const r = await execa("bash", ["-c", script as string, "x", `$(touch ${marker})`, "*"], {
        reject: false,
        encoding: "buffer",
        cwd: tmp,
      });
      expect(r.exitCode).toBe(0);
      expect(lastRequest).toBe(`get $(touch ${marker}) *`);
      expect(await execa("test", ["-e", marker], { reject: false }).then((t) => t.exitCode)).toBe(1);
    });

    it("fails when the answer stops before END, or is an error", async () => {
      answer = (keys) => `VALUE ${keys[0]} 0 4\r\nab|close`;
      const cut = await get([sid(1)]);
      expect(cut.exitCode).not.toBe(0);
      expect(() => parseMemcachedGetMulti(cut.stdout, [sid(1)])).toThrow(/incomplete/);
      answer = () => "SERVER_ERROR busy\r\n";
      const busy = await get([sid(1)]);
      expect(busy.exitCode).toBe(6);
      expect(() => parseMemcachedGetMulti(busy.stdout, [sid(1)])).toThrow(/SERVER_ERROR busy/);
    });

    it("exits 3 when nothing listens", async () => {
      const free = net.createServer();
      await new Promise<void>((resolve) => free.listen(0, "127.0.0.1", resolve));
      const freePort = (free.address() as net.AddressInfo).port;
      await new Promise<void>((resolve) => free.close(() => resolve()));
      const r = await execa("bash", ["-c", memcachedGetScript(freePort), "x", sid(1)], { reject: false });
      expect(r.exitCode).toBe(3);
    });
  });
});

describe("nginx in the balancer container", () => {
  it("tests and reloads the rendered config", () => {
    expect(NGINX_TEST_ARGS).toEqual(["nginx", "-t", "-q", "-c", "/etc/phpcluster/nginx/nginx.conf"]);
    expect(NGINX_RELOAD_ARGS).toEqual(["nginx", "-s", "reload", "-c", "/etc/phpcluster/nginx/nginx.conf"]);
    expect(NGINX_WORKERS_SCRIPT).toContain('[ "$2" = 1 ]');
  });

  it("tells accepting workers from old-generation ones by their title", () => {
    const out =
      "31 nginx: worker process\n" +
      "32 nginx: worker process is shutting down\n" +
      "33 nginx: cache manager process\n" +
      "34 \n" +
      "35 nginx: worker process\r\n" +
      "garbage\n\n";
    expect(parseWorkers(out)).toEqual([
      { pid: 31, accepting: true },
      { pid: 32, accepting: false },
      { pid: 35, accepting: true },
    ]);
    expect(parseWorkers("")).toEqual([]);
  });

  it("lists the children of the master with their titles, read from /proc", async () => {
    // a stand-in master with two children retitled as nginx retitles its workers
    const master: ChildProcess = spawn(
      "bash",
      [
        "-c",
        '(exec -a "nginx: worker process" sleep 30) & (exec -a "nginx: worker process is shutting down" sleep 30) & wait',
      ],
      { stdio: "ignore", detached: true },
    );
    try {
      const pid = master.pid as number;
      let workers: ReturnType<typeof parseWorkers> = [];
      for (let i = 0; i < 100 && workers.length < 2; i++) {
        await new Promise((r) => setTimeout(r, 50));
        workers = parseWorkers((await execa("bash", ["-c", nginxWorkersScript(pid)])).stdout);
      }
      expect(workers.map((w) => w.accepting).sort()).toEqual([false, true]);
      expect(workers.map((w) => w.pid)).not.toContain(pid);
    } finally {
      if (master.pid) process.kill(-master.pid, "SIGKILL");
    }
  });
});
