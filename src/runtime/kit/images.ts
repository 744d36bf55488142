/** The images a container runtime built for a cluster: found by their exact repositories, never by a pattern. */
export interface BuiltImage {
  /** repository:tag */
  ref: string;
  id: string;
  /** The image's size as the engine reports it (layers shared with the base image included). */
  bytes: number;
  /** swarm: the host whose engine holds this copy (absent: the engine the Docker CLI points at). */
  host?: string;
  /** swarm: that engine's endpoint (DOCKER_HOST), to remove the copy there. */
  engine?: string;
}

/** What a runtime found of the images it built: the copies it can see, and where it could not look. */
export interface BuiltImages {
  images: BuiltImage[];
  /** Copies phpcluster cannot see or remove, each said in a sentence (a host whose engine is not known, a registry). */
  elsewhere: string[];
}

/** How a copy is named to the user: `repo:tag`, or `repo:tag on <host>` on a multi-host runtime. */
export const shownImage = (i: BuiltImage): string => (i.host ? `${i.ref} on ${i.host}` : i.ref);

export type DockerRun = (
  args: string[],
) => Promise<{ exitCode: number | undefined; stdout: string; stderr: string; shortMessage: string }>;

/** Every tag of the given repositories on the engine, with its size. */
export async function imagesOf(run: DockerRun, repositories: string[]): Promise<BuiltImage[]> {
  const found: { ref: string; id: string }[] = [];
  for (const repo of repositories) {
    const r = await run(["image", "ls", "--no-trunc", "--format", "{{.Repository}}:{{.Tag}}\t{{.ID}}", repo]);
    if (r.exitCode !== 0) continue;
    for (const line of r.stdout.split("\n")) {
      const [ref, id] = line.trim().split("\t");
      if (ref && id && ref.startsWith(`${repo}:`) && !ref.endsWith(":<none>")) found.push({ ref, id });
    }
  }
  if (found.length === 0) return [];
  const ids = [...new Set(found.map((f) => f.id))];
  const sizes = new Map<string, number>();
  const r = await run(["image", "inspect", "--format", "{{.Id}}\t{{.Size}}", ...ids]);
  for (const line of r.stdout.split("\n")) {
    const [id, size] = line.trim().split("\t");
    if (id && size) sizes.set(id, Number(size));
  }
  return found.map((f) => ({ ...f, bytes: sizes.get(f.id) ?? 0 }));
}

/** The space of a set of images, each image counted once per engine that holds it. */
export function imageBytes(images: BuiltImage[]): number {
  const byId = new Map(images.map((i) => [`${i.engine ?? ""}\t${i.id}`, i.bytes]));
  return [...byId.values()].reduce((a, b) => a + b, 0);
}

/** Remove images by reference (their untagged build parents go with them). */
export async function removeImages(run: DockerRun, images: BuiltImage[]): Promise<string | undefined> {
  if (images.length === 0) return undefined;
  const r = await run(["image", "rm", ...images.map((i) => i.ref)]);
  return r.exitCode === 0 ? undefined : (r.stderr || r.shortMessage).trim();
}
