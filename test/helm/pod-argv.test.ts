import t from 'tap'
import { fileURLToPath } from 'node:url'
import { composeArgv, containerEnv, expandKubernetes, processIdentity, readDockerfile, type ImageConfig } from '../helpers/pod-spec.js'
import { EXAMPLES, examplePath, manifestOf, renderChart } from '../helpers/helm-render.js'
import type { ContainerSpec } from '../helpers/pod-spec.js'

// The pod start tests run what Kubernetes would run only if this composition is Kubernetes' own:
// its documented rules ("Define a Command and Arguments for a Container", "Define Dependent
// Environment Variables"), then the image and the chart as they are.
const image: ImageConfig = { entrypoint: ['/bin/ep'], cmd: ['default-cmd', '--x'], env: [['FROM_IMAGE', 'i'], ['PATH', '/bin']], workdir: '/app', user: '65532:65532' }
const noSources = { secret: () => undefined, configMap: () => undefined, field: () => 'pod-0' }

t.test('command replaces ENTRYPOINT and drops CMD; args alone replace CMD', async (t) => {
  const env = new Map<string, string>()
  t.same(composeArgv(image, {}, env), ['/bin/ep', 'default-cmd', '--x'], 'neither: ENTRYPOINT + CMD')
  t.same(composeArgv(image, { args: ['a'] }, env), ['/bin/ep', 'a'], 'args only: ENTRYPOINT + args')
  t.same(composeArgv(image, { command: ['/bin/c'] }, env), ['/bin/c'], 'command only: CMD is dropped too')
  t.same(composeArgv(image, { command: ['/bin/c'], args: ['a'] }, env), ['/bin/c', 'a'], 'both')
  t.same(composeArgv(image, { args: [] }, env), ['/bin/ep', 'default-cmd', '--x'], 'an empty args list is no args')
})

t.test('$(VAR) expansion as the kubelet does it', async (t) => {
  const vars = new Map([['A', 'x'], ['EMPTY', '']])
  const expand = (s: string): string => expandKubernetes(s, (name) => vars.get(name))
  t.equal(expand('$(A)'), 'x')
  t.equal(expand('pre-$(A)-post'), 'pre-x-post')
  t.equal(expand('$(EMPTY)|'), '|', 'defined as empty')
  t.equal(expand('$(UNSET)'), '$(UNSET)', 'an undefined variable stays as written')
  t.equal(expand('$$(A)'), '$(A)', '$$ escapes')
  t.equal(expand('$$$(A)'), '$x')
  t.equal(expand('$A ${A} $'), '$A ${A} $', 'only $(…) is a reference')
  t.equal(expand('$(A'), '$(A', 'unterminated')
  t.same(composeArgv(image, { args: ['--config', '$(A)/f'] }, vars), ['/bin/ep', '--config', 'x/f'], 'in args')
})

t.test('env: declared in order, each value expanded against those before it, over the image\'s ENV', async (t) => {
  const container: ContainerSpec = {
    name: 'c',
    env: [
      { name: 'LATER_REF', value: '$(B)' },
      { name: 'B', value: 'b' },
      { name: 'C', value: '$(B)-$(FROM_IMAGE)' },
      { name: 'S', valueFrom: { secretKeyRef: { name: 's', key: 'k' } } },
      { name: 'OPT', valueFrom: { secretKeyRef: { name: 's', key: 'missing', optional: true } } },
      { name: 'PATH', value: '/override' }
    ]
  }
  const { declared, process } = containerEnv(image, container, { ...noSources, secret: (name) => name === 's' ? { k: 'secret-value' } : undefined })
  t.equal(declared.get('LATER_REF'), '$(B)', 'a variable defined later is not yet known')
  t.equal(declared.get('C'), 'b-$(FROM_IMAGE)', 'the image\'s ENV is not the kubelet\'s to expand')
  t.equal(declared.get('S'), 'secret-value')
  t.notOk(declared.has('OPT'), 'an optional key the Secret lacks leaves the variable unset')
  t.match(process, { FROM_IMAGE: 'i', PATH: '/override', S: 'secret-value' })
  t.throws(() => containerEnv(image, { name: 'c', env: [{ name: 'X', valueFrom: { secretKeyRef: { name: 'absent', key: 'k' } } }] }, noSources), /Secret absent not found: the pod would not start/)
})

t.test('the user: container over pod over image; runAsNonRoot refuses uid 0', async (t) => {
  t.same(processIdentity(image), { uid: 65532, gid: 65532, groups: [] })
  t.same(processIdentity(image, { runAsUser: 1000, fsGroup: 2000 }, { runAsGroup: 3000 }), { uid: 1000, gid: 3000, groups: [2000] })
  t.throws(() => processIdentity({ ...image, user: undefined }, { runAsNonRoot: true }), /runAsNonRoot/)
})

t.test('the Dockerfile\'s image: the CLI as entrypoint, start as default command; the chart names the config it mounts', async (t) => {
  const dockerfile = readDockerfile(fileURLToPath(new URL('../../Dockerfile', import.meta.url)))
  t.same(dockerfile.entrypoint, ['/nodejs/bin/node', 'dist/cli.js'])
  t.same(dockerfile.cmd, ['start'])
  t.equal(dockerfile.workdir, '/app')
  t.equal(dockerfile.user, '65532:65532')
  t.match(Object.fromEntries(dockerfile.env), { BOOKME_GATEWAY_CONFIG: '/etc/bookme-gateway/gateway.yaml' })
  // The image alone (docker run IMAGE, or a container without args) starts with the same config.
  t.same(composeArgv(dockerfile, {}, new Map()), ['/nodejs/bin/node', 'dist/cli.js', 'start'])
  for (const values of [[], ...EXAMPLES.map((file) => [examplePath(file)])]) {
    const container = manifestOf<{ spec: { template: { spec: { containers: ContainerSpec[] } } } }>(renderChart({ values }), 'Deployment').spec.template.spec.containers[0]!
    t.same(composeArgv(dockerfile, container, new Map()), ['/nodejs/bin/node', 'dist/cli.js', 'start', '--config', '/etc/bookme-gateway/config/gateway.yaml'], `${values[0] ?? 'values.yaml'}: start once, with the mounted config`)
    t.equal(container.env?.find((e) => e.name === 'BOOKME_GATEWAY_CONFIG')?.value, '/etc/bookme-gateway/config/gateway.yaml', 'and so does the container\'s default')
    // The ConfigMap's folder, not the file by subPath: the kubelet updates only the former (README "Config changes").
    t.ok(container.volumeMounts?.some((m) => m.mountPath === '/etc/bookme-gateway/config' && m.name === 'config' && m.subPath === undefined), 'the config\'s folder is mounted where the args say')
  }
})
