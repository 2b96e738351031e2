package main

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
)

// deployment is what one file of deploy/ gives commentd: its environment, the volumes mounted into
// its container, the container ports it publishes, and how long the platform waits after SIGTERM
// before it kills the process.
type deployment struct {
	file   string
	env    map[string]string
	local  []string // files of the checkout it reads (compose's env_file and bind-mount sources), from the repository root
	mounts []string // container paths
	ports  []string // container ports
	grace  time.Duration
}

// readYAML decodes the YAML file into v, failing the test when it cannot.
func readYAML(t *testing.T, file string, v any) {
	t.Helper()
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
}

// composeDeployment reads the commentd service of deploy/compose.yaml.
func composeDeployment(t *testing.T) deployment {
	t.Helper()
	const file = "../../deploy/compose.yaml"
	var doc struct {
		Services map[string]struct {
			EnvFile         string            `yaml:"env_file"`
			Environment     map[string]string `yaml:"environment"`
			Volumes         []string          `yaml:"volumes"`
			Ports           []string          `yaml:"ports"`
			StopGracePeriod string            `yaml:"stop_grace_period"`
		} `yaml:"services"`
	}
	readYAML(t, file, &doc)
	svc, ok := doc.Services["commentd"]
	if !ok {
		t.Fatalf("%s has no commentd service", file)
	}
	d := deployment{file: file, env: svc.Environment, grace: 10 * time.Second} // Compose's default
	if svc.StopGracePeriod != "" {
		var err error
		if d.grace, err = time.ParseDuration(svc.StopGracePeriod); err != nil {
			t.Fatalf("%s: stop_grace_period: %v", file, err)
		}
	}
	for _, v := range svc.Volumes {
		parts := strings.Split(v, ":")
		if len(parts) < 2 {
			t.Fatalf("%s: volume %q: want source:target", file, v)
		}
		d.mounts = append(d.mounts, parts[1])
		if strings.HasPrefix(parts[0], ".") {
			d.local = append(d.local, path.Join("deploy", parts[0]))
		}
	}
	if svc.EnvFile != "" {
		d.local = append(d.local, path.Join("deploy", svc.EnvFile))
	}
	for _, p := range svc.Ports {
		d.ports = append(d.ports, p[strings.LastIndexByte(p, ':')+1:])
	}
	return d
}

// kubernetesDeployment reads the commentd container of the Deployment in
// deploy/kubernetes/commentd.yaml. Variables taken from a secret get a placeholder value.
func kubernetesDeployment(t *testing.T) deployment {
	t.Helper()
	const file = "../../deploy/kubernetes/commentd.yaml"
	type container struct {
		Name  string `yaml:"name"`
		Ports []struct {
			ContainerPort int `yaml:"containerPort"`
		} `yaml:"ports"`
		Env []struct {
			Name      string     `yaml:"name"`
			Value     string     `yaml:"value"`
			ValueFrom *yaml.Node `yaml:"valueFrom"`
		} `yaml:"env"`
		VolumeMounts []struct {
			MountPath string `yaml:"mountPath"`
		} `yaml:"volumeMounts"`
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	for {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						TerminationGracePeriodSeconds *int        `yaml:"terminationGracePeriodSeconds"`
						Containers                    []container `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if doc.Kind != "Deployment" {
			continue
		}
		pod := doc.Spec.Template.Spec
		d := deployment{file: file, env: map[string]string{}, grace: 30 * time.Second} // Kubernetes' default
		if pod.TerminationGracePeriodSeconds != nil {
			d.grace = time.Duration(*pod.TerminationGracePeriodSeconds) * time.Second
		}
		for _, c := range pod.Containers {
			if c.Name != "commentd" {
				continue
			}
			for _, e := range c.Env {
				d.env[e.Name] = e.Value
				if e.ValueFrom != nil {
					d.env[e.Name] = "from-secret"
				}
			}
			for _, m := range c.VolumeMounts {
				d.mounts = append(d.mounts, m.MountPath)
			}
			for _, p := range c.Ports {
				d.ports = append(d.ports, strconv.Itoa(p.ContainerPort))
			}
			return d
		}
	}
	t.Fatalf("%s has no Deployment with a commentd container", file)
	return deployment{}
}

// TestDeployFilesMatchTheServer reads deploy/'s compose file and Kubernetes manifest against what
// commentd really reads: every COMMENTD_* variable they set is one of its settings, the
// configuration they give loads, the keys file is inside a mounted volume, the ports commentd
// listens on are the ones published, and the platform waits longer after SIGTERM than commentd
// goes on taking calls (-shutdown-delay) and drains (-shutdown-timeout), so the drain is not cut
// short by a kill.

func TestDeployFilesMatchTheServer(t *testing.T) {
	var usage bytes.Buffer
	if _, err := config.Load([]string{"-h"}, func(string) string { return "" }, &usage); !errors.Is(err, config.ErrHelp) {
		t.Fatalf("config.Load(-h) = %v, want ErrHelp", err)
	}
	known := map[string]bool{}
	for _, m := range regexp.MustCompile(`\(env (COMMENTD_[A-Z_]+)\)`).FindAllStringSubmatch(usage.String(), -1) {
		known[m[1]] = true
	}
	// The Go runtime's own variables a deployment may set for commentd's process (the Kubernetes
	// manifest bounds the heap with GOMEMLIMIT).
	goRuntimeEnv := map[string]bool{"GOMEMLIMIT": true, "GOGC": true, "GOMAXPROCS": true}
	secret := privacy.EncodeSecret(privacy.NewSecret())
	for _, d := range []deployment{composeDeployment(t), kubernetesDeployment(t)} {
		t.Run(strings.TrimPrefix(d.file, "../../"), func(t *testing.T) {
			for name := range d.env {
				if !known[name] && !goRuntimeEnv[name] {
					t.Errorf("%s sets %s, which commentd does not read", d.file, name)
				}
			}
			// The secrets come from outside the file (compose's secrets.env, a Kubernetes secret).
			env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + secret, "COMMENTD_HASH_KEY": secret}
			for k, v := range d.env {
				if v != "from-secret" {
					env[k] = v
				}
			}
			cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
			if err != nil {
				t.Fatalf("%s: commentd refuses its configuration: %v", d.file, err)
			}
			if !mountedUnder(cfg.KeysFile, d.mounts) {
				t.Errorf("%s: keys file %s is in none of the mounted volumes %q", d.file, cfg.KeysFile, d.mounts)
			}
			for _, addr := range []string{cfg.GRPCAddr, cfg.HTTPAddr} {
				_, port, err := net.SplitHostPort(addr)
				if err != nil {
					t.Fatalf("%s: listen address %q: %v", d.file, addr, err)
				}
				if !slices.Contains(d.ports, port) {
					t.Errorf("%s: commentd listens on port %s, which is not among the container ports %q", d.file, port, d.ports)
				}
			}
			if d.grace <= cfg.ShutdownDelay+cfg.ShutdownTimeout {
				t.Errorf("%s: the platform kills commentd %s after SIGTERM, before its -shutdown-delay of %s and -shutdown-timeout of %s have let calls drain", d.file, d.grace, cfg.ShutdownDelay, cfg.ShutdownTimeout)
			}
		})
	}
}

func mountedUnder(path string, mounts []string) bool {
	for _, m := range mounts {
		if strings.HasPrefix(path, strings.TrimSuffix(m, "/")+"/") {
			return true
		}
	}
	return false
}

// TestDeploySecretsStayOutOfGitAndImages: the compose file reads the encryption keys, the hash key
// and the API keys file from files the operator creates in the checkout. Git must not offer them
// for a commit, and the image build (whose context is the whole checkout) must not copy them.
func TestDeploySecretsStayOutOfGitAndImages(t *testing.T) {
	d := composeDeployment(t)
	if len(d.local) == 0 {
		t.Fatalf("%s reads no file of the checkout; the test expects its env_file and keys directory", d.file)
	}
	for _, ignore := range []string{"../../.gitignore", "../../.dockerignore"} {
		raw, err := os.ReadFile(ignore)
		if err != nil {
			t.Errorf("%s: %v", ignore, err)
			continue
		}
		for _, p := range d.local {
			if !ignored(string(raw), p) {
				t.Errorf("%s does not leave out %s, which %s reads", ignore, p, d.file)
			}
		}
	}
}

// ignored reports whether a pattern of an ignore file (one a line, "#" comments; no negations)
// matches p or a directory above it. Patterns are read as paths from the repository root.
func ignored(file, p string) bool {
	for line := range strings.Lines(file) {
		pat := strings.TrimSuffix(strings.Trim(strings.TrimSpace(line), "/"), "/")
		if pat == "" || strings.HasPrefix(pat, "#") {
			continue
		}
		for q := p; q != "." && q != "/"; q = path.Dir(q) {
			if ok, _ := path.Match(pat, q); ok {
				return true
			}
		}
	}
	return false
}

// TestDockerfileBuildsWithTheGoOfGoMod: the official golang images set GOTOOLCHAIN=local, so a
// build image older than go.mod's go line refuses to build ("go.mod requires go >= ..."). A tag
// such as golang:1.26 names whichever 1.26 release the builder pulled last, possibly an older one
// than go.mod asks for; the build image is pinned to go.mod's version.
func TestDockerfileBuildsWithTheGoOfGoMod(t *testing.T) {
	mod, err := os.ReadFile("../../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\S+)$`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go line")
	}
	want := string(m[1])
	docker, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	from := regexp.MustCompile(`(?m)^FROM golang:(\S+)`).FindSubmatch(docker)
	if from == nil {
		t.Fatal("deploy/Dockerfile has no FROM golang:... stage")
	}
	tag := string(from[1])
	if version, _, _ := strings.Cut(tag, "-"); version != want { // 1.26.8-bookworm is 1.26.8
		t.Errorf("deploy/Dockerfile builds with golang:%s, want golang:%s, the go version of go.mod", tag, want)
	}
}

// securityContext is the part of a Kubernetes securityContext that the "restricted" Pod Security
// Standard requires; a pod's holds only runAsNonRoot and seccompProfile.
type securityContext struct {
	RunAsNonRoot             *bool `yaml:"runAsNonRoot"`
	AllowPrivilegeEscalation *bool `yaml:"allowPrivilegeEscalation"`
	ReadOnlyRootFilesystem   *bool `yaml:"readOnlyRootFilesystem"`
	Capabilities             struct {
		Drop []string `yaml:"drop"`
	} `yaml:"capabilities"`
	SeccompProfile struct {
		Type string `yaml:"type"`
	} `yaml:"seccompProfile"`
}

// TestKubernetesRunsUnderRestrictedPodSecurity: commentd needs no privilege and writes no file, so
// its Deployment must be admitted by a namespace that enforces the "restricted" Pod Security
// Standard (non-root, no privilege escalation, every capability dropped, the runtime's seccomp
// profile), and the image must name its user by number: the kubelet cannot check runAsNonRoot
// against a user name ("image has non-numeric user (nonroot), cannot verify user is non-root").
// The root filesystem is read-only too. The pod-level context is left alone on purpose: the
// README's SIGHUP recipe runs a busybox debug container as root beside commentd.
func TestKubernetesRunsUnderRestrictedPodSecurity(t *testing.T) {
	const file = "../../deploy/kubernetes/commentd.yaml"
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	dec := yaml.NewDecoder(f)
	var sc *securityContext
	for sc == nil {
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Spec struct {
						Containers []struct {
							Name            string           `yaml:"name"`
							SecurityContext *securityContext `yaml:"securityContext"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		if err := dec.Decode(&doc); errors.Is(err, io.EOF) {
			t.Fatalf("%s has no Deployment with a commentd container", file)
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		for _, c := range doc.Spec.Template.Spec.Containers {
			if doc.Kind == "Deployment" && c.Name == "commentd" {
				sc = c.SecurityContext
				if sc == nil {
					sc = &securityContext{}
				}
			}
		}
	}
	isTrue := func(b *bool) bool { return b != nil && *b }
	for _, c := range []struct {
		field string
		ok    bool
	}{
		{"runAsNonRoot: true", isTrue(sc.RunAsNonRoot)},
		{"allowPrivilegeEscalation: false", sc.AllowPrivilegeEscalation != nil && !*sc.AllowPrivilegeEscalation},
		{"readOnlyRootFilesystem: true", isTrue(sc.ReadOnlyRootFilesystem)},
		{"capabilities: {drop: [ALL]}", slices.Equal(sc.Capabilities.Drop, []string{"ALL"})},
		{"seccompProfile: {type: RuntimeDefault}", sc.SeccompProfile.Type == "RuntimeDefault"},
	} {
		if !c.ok {
			t.Errorf("%s: the commentd container's securityContext lacks %s", file, c.field)
		}
	}

	docker, err := os.ReadFile("../../deploy/Dockerfile")
	if err != nil {
		t.Fatal(err)
	}
	users := regexp.MustCompile(`(?m)^USER\s+(\S+)`).FindAllSubmatch(docker, -1)
	if len(users) == 0 {
		t.Fatal("deploy/Dockerfile sets no USER: the image would run as root")
	}
	user, _, _ := strings.Cut(string(users[len(users)-1][1]), ":")
	if uid, err := strconv.Atoi(user); err != nil || uid == 0 {
		t.Errorf("deploy/Dockerfile runs as USER %s, want a non-zero uid by number (runAsNonRoot cannot check a name)", users[len(users)-1][1])
	}
}

// TestDeployProbesAndRedisMatchTheServer reads what deploy/ asks of the server beyond its
// configuration: the compose file's Redis runs with the durability commentd refuses to start
// without (AOF on, maxmemory-policy noeviction: without them the compose set-up would not start
// at all); the Kubernetes probes knock on the port commentd serves gRPC (and its health service)
// on, and the scrape annotations name the port of /metrics.
func TestDeployProbesAndRedisMatchTheServer(t *testing.T) {
	t.Run("compose redis", func(t *testing.T) {
		const file = "../../deploy/compose.yaml"
		var doc struct {
			Services map[string]struct {
				Command []string `yaml:"command"`
			} `yaml:"services"`
		}
		readYAML(t, file, &doc)
		cmd := doc.Services["redis"].Command
		option := func(name string) string {
			if i := slices.Index(cmd, "--"+name); i >= 0 && i+1 < len(cmd) {
				return cmd[i+1]
			}
			return ""
		}
		if got := option("appendonly"); got != "yes" {
			t.Errorf("%s: redis runs with --appendonly %q, want yes (commentd refuses a Redis without AOF): %q", file, got, cmd)
		}
		if got := option("maxmemory-policy"); got != "noeviction" {
			t.Errorf("%s: redis runs with --maxmemory-policy %q, want noeviction (commentd refuses an evicting Redis): %q", file, got, cmd)
		}
	})

	t.Run("kubernetes probes", func(t *testing.T) {
		const file = "../../deploy/kubernetes/commentd.yaml"
		type port struct {
			Port yaml.Node `yaml:"port"`
		}
		type probe struct {
			GRPC      *port `yaml:"grpc"`
			TCPSocket *port `yaml:"tcpSocket"`
			HTTPGet   *struct {
				Path string    `yaml:"path"`
				Port yaml.Node `yaml:"port"`
			} `yaml:"httpGet"`
		}
		var doc struct {
			Kind string `yaml:"kind"`
			Spec struct {
				Template struct {
					Metadata struct {
						Annotations map[string]string `yaml:"annotations"`
					} `yaml:"metadata"`
					Spec struct {
						Containers []struct {
							Name  string `yaml:"name"`
							Ports []struct {
								Name          string `yaml:"name"`
								ContainerPort int    `yaml:"containerPort"`
							} `yaml:"ports"`
							ReadinessProbe *probe `yaml:"readinessProbe"`
							LivenessProbe  *probe `yaml:"livenessProbe"`
						} `yaml:"containers"`
					} `yaml:"spec"`
				} `yaml:"template"`
			} `yaml:"spec"`
		}
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		dec := yaml.NewDecoder(f)
		for doc.Kind != "Deployment" {
			if err := dec.Decode(&doc); err != nil {
				t.Fatalf("%s: no Deployment: %v", file, err)
			}
		}
		d := kubernetesDeployment(t)
		env := map[string]string{"COMMENTD_ENCRYPTION_KEYS": "k1:" + privacy.EncodeSecret(privacy.NewSecret()), "COMMENTD_HASH_KEY": privacy.EncodeSecret(privacy.NewSecret())}
		for k, v := range d.env {
			if v != "from-secret" {
				env[k] = v
			}
		}
		cfg, err := config.Load(nil, func(k string) string { return env[k] }, io.Discard)
		if err != nil {
			t.Fatalf("%s: commentd refuses its configuration: %v", file, err)
		}
		_, grpcPort, _ := net.SplitHostPort(cfg.GRPCAddr)
		_, httpPort, _ := net.SplitHostPort(cfg.HTTPAddr)
		for _, c := range doc.Spec.Template.Spec.Containers {
			if c.Name != "commentd" {
				continue
			}
			// resolve turns a probe's port, a number or a container port's name, into a number.
			resolve := func(n yaml.Node) string {
				for _, p := range c.Ports {
					if p.Name == n.Value {
						return strconv.Itoa(p.ContainerPort)
					}
				}
				return n.Value
			}
			for _, p := range []struct {
				name  string
				probe *probe
			}{{"readinessProbe", c.ReadinessProbe}, {"livenessProbe", c.LivenessProbe}} {
				switch {
				case p.probe == nil:
					t.Errorf("%s: the commentd container has no %s", file, p.name)
				case p.probe.GRPC != nil && resolve(p.probe.GRPC.Port) != grpcPort:
					t.Errorf("%s: %s asks the gRPC health service on port %s; commentd serves gRPC on %s", file, p.name, resolve(p.probe.GRPC.Port), grpcPort)
				case p.probe.TCPSocket != nil && resolve(p.probe.TCPSocket.Port) != grpcPort && resolve(p.probe.TCPSocket.Port) != httpPort:
					t.Errorf("%s: %s connects to port %s, where commentd does not listen (%s, %s)", file, p.name, resolve(p.probe.TCPSocket.Port), grpcPort, httpPort)
				case p.probe.HTTPGet != nil:
					t.Errorf("%s: %s is an HTTP probe: commentd's HTTP port serves only /metrics, which says nothing of readiness; probe gRPC health", file, p.name)
				}
			}
			if c.ReadinessProbe != nil && c.ReadinessProbe.GRPC == nil {
				t.Errorf("%s: the readiness probe is not a gRPC one: only the gRPC health service says NOT_SERVING while Redis is away", file)
			}
			ann := doc.Spec.Template.Metadata.Annotations
			if got := ann["prometheus.io/port"]; got != "" && got != httpPort {
				t.Errorf("%s: prometheus.io/port is %s; commentd serves /metrics on %s", file, got, httpPort)
			}
			if got := ann["prometheus.io/path"]; got != "" && got != "/metrics" {
				t.Errorf("%s: prometheus.io/path is %s; commentd serves /metrics", file, got)
			}
			return
		}
		t.Fatalf("%s: no commentd container", file)
	})
}
