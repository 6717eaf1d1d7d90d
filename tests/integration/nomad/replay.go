// Command replay drives the rkt command line the way Nomad's rkt task driver drove it
// (hashicorp/nomad drivers/rkt, Nomad 0.9 and 0.10, and the extracted nomad-driver-rkt):
// the same argv, the same decoding of stdout and of the JSON into the same Go types (the
// driver's pod status struct, appc's schema.PodManifest), the same signal and kill timeout
// as Nomad's executor. It is written for Rocket's integration tests (test_nomad_driver.py),
// which run it in a network and mount namespace of its own; it reports what it saw as one
// JSON object on stdout and exits 1 on the first step that fails, as a task start would.
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	appcschema "github.com/appc/spec/schema"
)

// The driver's fingerprint: both lines must match, and rkt must be at least 1.27.0.
var (
	rktVersionLine  = regexp.MustCompile(`rkt [vV]ersion[:]? (\d[.\d]+)`)
	appcVersionLine = regexp.MustCompile(`appc [vV]ersion[:]? (\d[.\d]+)`)
	minimumVersion  = []int{1, 27, 0}
)

// podStatus is what the driver decodes `rkt status --format=json` into.
type podStatus struct {
	UUID     string    `json:"name"`
	State    string    `json:"state"`
	Networks []netInfo `json:"networks,omitempty"`
}

type netInfo struct {
	NetName    string `json:"netName"`
	ConfPath   string `json:"netConf"`
	PluginPath string `json:"pluginPath"`
	IfName     string `json:"ifName"`
	IP         net.IP `json:"ip"`
	Args       string `json:"args"`
}

type report struct {
	RktVersion  string            `json:"rkt_version"`
	AppcVersion string            `json:"appc_version"`
	PrepareArgs []string          `json:"prepare_args"`
	RunArgs     []string          `json:"run_args"`
	UUID        string            `json:"uuid"`
	IP          string            `json:"ip,omitempty"`
	PortMap     map[string]int    `json:"port_map,omitempty"`
	HTTPBody    string            `json:"http_body,omitempty"`
	ExecOutput  string            `json:"exec_output"`
	ExecCode    int               `json:"exec_code"`
	Stop        map[string]string `json:"stop"`
	Error       string            `json:"error,omitempty"`
}

type options struct {
	image, trustPrefix, nets, command, user, group, taskDir, allocID, task string
	killSignal                                                              string
	killTimeout                                                             time.Duration
	memoryBytes, cpuShares                                                  int64
	cpuMilli                                                                bool
	args, env, portMap, volumes, dns, dnsSearch                            []string
	hostPorts                                                               []int
	execCmd                                                                 []string
}

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error { *l = append(*l, v); return nil }

func main() {
	var o options
	var args, env, portMap, volumes, dns, dnsSearch, execCmd listFlag
	var hostPorts string
	flag.StringVar(&o.image, "image", "", "the task's image")
	flag.StringVar(&o.trustPrefix, "trust-prefix", "", "the task's trust_prefix")
	flag.StringVar(&o.nets, "net", "", "the task's net, comma-separated")
	flag.StringVar(&o.command, "command", "", "the task's command")
	flag.StringVar(&o.user, "user", "", "the task's user")
	flag.StringVar(&o.group, "group", "", "the task's group")
	flag.StringVar(&o.taskDir, "task-dir", "", "the task's directory (alloc, local, secrets)")
	flag.StringVar(&o.allocID, "alloc-id", "8a4b7c36-2d9e-4f1a-9b2c-3d4e5f607182", "the allocation")
	flag.StringVar(&o.task, "task", "web_task", "the task's name")
	flag.StringVar(&o.killSignal, "kill-signal", "SIGINT", "the task's kill_signal")
	flag.DurationVar(&o.killTimeout, "kill-timeout", 5*time.Second, "the task's kill_timeout")
	flag.Int64Var(&o.memoryBytes, "memory", 256<<20, "the task's memory, in bytes")
	flag.Int64Var(&o.cpuShares, "cpu", 500, "the task's cpu, in MHz (shares)")
	flag.BoolVar(&o.cpuMilli, "cpu-milli", false, "spell --cpu as Nomad 0.8 did (500m)")
	flag.Var(&args, "arg", "an argument of the task (repeatable)")
	flag.Var(&env, "env", "NAME=VALUE of the task's environment (repeatable)")
	flag.Var(&portMap, "port-map", "LABEL=PORTNAME of port_map (repeatable)")
	flag.StringVar(&hostPorts, "host-ports", "", "LABEL=HOSTPORT of the allocation's ports")
	flag.Var(&volumes, "volume", "host:container[:readOnly] of volumes (repeatable)")
	flag.Var(&dns, "dns", "a dns_servers entry (repeatable)")
	flag.Var(&dnsSearch, "dns-search", "a dns_search_domains entry (repeatable)")
	flag.Var(&execCmd, "exec", "a word of the command to exec in the task (repeatable)")
	flag.Parse()
	o.args, o.env, o.portMap, o.volumes, o.dns, o.dnsSearch, o.execCmd =
		args, env, portMap, volumes, dns, dnsSearch, execCmd

	r := &report{Stop: map[string]string{}}
	err := replay(&o, hostPorts, r)
	if err != nil {
		r.Error = err.Error()
	}
	out, _ := json.MarshalIndent(r, "", "  ")
	fmt.Println(string(out))
	if err != nil {
		os.Exit(1)
	}
}

func run(args ...string) (string, string, error) {
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("rkt", args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), err
}

func atLeast(version string, minimum []int) bool {
	parts := strings.Split(version, ".")
	for i, want := range minimum {
		have := 0
		if i < len(parts) {
			have, _ = strconv.Atoi(parts[i])
		}
		if have != want {
			return have > want
		}
	}
	return true
}

func replay(o *options, hostPorts string, r *report) error {
	// Fingerprint.
	out, err := exec.Command("rkt", "version").Output()
	if err != nil {
		return fmt.Errorf("rkt version: %v", err)
	}
	text := strings.TrimSpace(string(out))
	rktMatch, appcMatch := rktVersionLine.FindStringSubmatch(text), appcVersionLine.FindStringSubmatch(text)
	if len(rktMatch) != 2 || len(appcMatch) != 2 {
		return fmt.Errorf("unable to parse rkt version string %q", text)
	}
	r.RktVersion, r.AppcVersion = rktMatch[1], appcMatch[1]
	if !atLeast(rktMatch[1], minimumVersion) {
		return fmt.Errorf("unsupported rkt version %s", rktMatch[1])
	}

	// Trust, then the global arguments of prepare and run-prepared.
	debug := false
	insecure := true
	if o.trustPrefix != "" {
		_, stderr, err := run("trust", "--skip-fingerprint-review=true",
			fmt.Sprintf("--prefix=%s", o.trustPrefix), fmt.Sprintf("--debug=%t", debug))
		if err != nil {
			return fmt.Errorf("rkt trust: %v: %s", err, stderr)
		}
		insecure = false
	}
	global := []string{}
	if insecure {
		global = append(global, "--insecure-options=all")
	}
	global = append(global, fmt.Sprintf("--debug=%t", debug))
	prepare := append(append([]string{}, global...), "prepare")
	runArgs := append(append([]string{}, global...), "run-prepared")

	// The task's directories, then its volumes, environment and image.
	name := strings.Replace(o.task, "_", "-", -1)
	for _, dir := range []struct{ suffix, source, target string }{
		{"alloc", filepath.Join(o.taskDir, "..", "alloc"), "/alloc"},
		{"local", filepath.Join(o.taskDir, "local"), "/local"},
		{"secrets", filepath.Join(o.taskDir, "secrets"), "/secrets"},
	} {
		volume := fmt.Sprintf("%s-%s-%s", o.allocID, name, dir.suffix)
		prepare = append(prepare, fmt.Sprintf("--volume=%s,kind=host,source=%s", volume, dir.source),
			fmt.Sprintf("--mount=volume=%s,target=%s", volume, dir.target))
	}
	for i, raw := range o.volumes {
		parts := strings.Split(raw, ":")
		readOnly := "false"
		if len(parts) == 3 && parts[2] == "readOnly" {
			readOnly = "true"
		} else if len(parts) != 2 && len(parts) != 3 {
			return fmt.Errorf("invalid rkt volume: %q", raw)
		}
		volume := fmt.Sprintf("%s-%s-%d", o.allocID, name, i)
		prepare = append(prepare,
			fmt.Sprintf("--volume=%s,kind=host,source=%s,readOnly=%s", volume, parts[0], readOnly),
			fmt.Sprintf("--mount=volume=%s,target=%s", volume, parts[1]))
	}
	for _, kv := range o.env {
		prepare = append(prepare, fmt.Sprintf("--set-env=%s", kv))
	}
	prepare = append(prepare, o.image)
	if o.command != "" {
		prepare = append(prepare, fmt.Sprintf("--exec=%v", o.command))
	}
	prepare = append(prepare, fmt.Sprintf("--memory=%v", o.memoryBytes))
	if o.cpuMilli {
		prepare = append(prepare, fmt.Sprintf("--cpu=%vm", o.cpuShares))
	} else {
		prepare = append(prepare, fmt.Sprintf("--cpu=%v", o.cpuShares))
	}
	if len(o.dns) == 1 && (o.dns[0] == "host" || o.dns[0] == "none") {
		runArgs = append(runArgs, fmt.Sprintf("--dns=%s", o.dns[0]))
	} else {
		for _, ip := range o.dns {
			if net.ParseIP(ip) == nil {
				return fmt.Errorf("invalid ip address for container dns server %q", ip)
			}
			runArgs = append(runArgs, fmt.Sprintf("--dns=%s", ip))
		}
	}
	for _, domain := range o.dnsSearch {
		runArgs = append(runArgs, fmt.Sprintf("--dns-search=%s", domain))
	}
	network := o.nets
	if network != "" {
		runArgs = append(runArgs, fmt.Sprintf("--net=%s", network))
	}
	portMap := map[string]string{}
	for _, entry := range o.portMap {
		label, port, _ := strings.Cut(entry, "=")
		portMap[label] = port
	}
	if network != "host" && hostPorts != "" {
		for _, entry := range strings.Split(hostPorts, ",") {
			label, port, _ := strings.Cut(entry, "=")
			container, ok := portMap[label]
			if !ok {
				return fmt.Errorf("port_map is not set for port %s", label)
			}
			prepare = append(prepare, fmt.Sprintf("--port=%s:%s", container, port))
		}
	}
	if o.user != "" {
		prepare = append(prepare, fmt.Sprintf("--user=%s", o.user))
	}
	if o.group != "" {
		prepare = append(prepare, fmt.Sprintf("--group=%s", o.group))
	}
	if len(o.args) != 0 {
		prepare = append(prepare, "--")
		prepare = append(prepare, o.args...)
	}
	r.PrepareArgs = prepare

	stdout, stderr, err := run(prepare...)
	if err != nil {
		return fmt.Errorf("Error preparing rkt pod: %s\n\nOutput: %s\n\nError: %s", err, stdout, stderr)
	}
	uuid := strings.TrimSpace(stdout)
	r.UUID = uuid
	runArgs = append(runArgs, uuid)
	r.RunArgs = runArgs

	// The executor: rkt at its absolute path (symlinks resolved), a process group of its own,
	// output to files in the task directory, the host's environment.
	path, err := exec.LookPath("rkt")
	if err != nil {
		return err
	}
	if path, err = filepath.EvalSymlinks(path); err != nil {
		return err
	}
	stdoutFile, err := os.Create(filepath.Join(o.taskDir, "stdout"))
	if err != nil {
		return err
	}
	defer stdoutFile.Close()
	stderrFile, err := os.Create(filepath.Join(o.taskDir, "stderr"))
	if err != nil {
		return err
	}
	defer stderrFile.Close()
	task := exec.Command(path, runArgs...)
	task.Stdout, task.Stderr = stdoutFile, stderrFile
	task.Env = os.Environ()
	task.Dir = o.taskDir
	task.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := task.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- task.Wait() }()
	stopped := false
	defer func() {
		if !stopped {
			task.Process.Kill()
			<-exited
		}
	}()

	if network != "host" && network != "none" {
		ip, ports, err := driverNetwork(uuid, portMap)
		if err != nil {
			return fmt.Errorf("network status retrieval for pod failed: %v", err)
		}
		r.IP, r.PortMap = ip, ports
		if port, ok := ports["http"]; ok {
			body, err := get(fmt.Sprintf("http://%s:%d/", ip, port))
			if err != nil {
				return err
			}
			r.HTTPBody = body
		}
	}

	// ExecTask: rkt enter UUID CMD ARGS..., its combined output and status. A user execs in
	// a task that runs: wait (as the replay's own step, not the driver's) for the pod's apps.
	if len(o.execCmd) != 0 {
		if err := waitReady(uuid); err != nil {
			return err
		}
		enter := append([]string{"enter", uuid}, o.execCmd...)
		cmd := exec.Command("rkt", enter...)
		output, err := cmd.CombinedOutput()
		r.ExecOutput = string(output)
		if exitErr, ok := err.(*exec.ExitError); ok {
			r.ExecCode = exitErr.ExitCode()
		} else if err != nil {
			return fmt.Errorf("rkt enter: %v", err)
		}
	}

	// StopTask: the kill signal to rkt's pid, kill_timeout, then SIGKILL.
	signals := map[string]syscall.Signal{"SIGINT": syscall.SIGINT, "SIGTERM": syscall.SIGTERM}
	sig, ok := signals[o.killSignal]
	if !ok {
		return fmt.Errorf("unknown signal %s", o.killSignal)
	}
	started := time.Now()
	if err := task.Process.Signal(sig); err != nil {
		return fmt.Errorf("executor shutdown error: %v", err)
	}
	r.Stop["signal"] = o.killSignal
	select {
	case <-exited:
		r.Stop["exited_within_kill_timeout"] = "true"
	case <-time.After(o.killTimeout):
		r.Stop["exited_within_kill_timeout"] = "false"
		task.Process.Kill()
		<-exited
	}
	stopped = true
	r.Stop["seconds"] = fmt.Sprintf("%.3f", time.Since(started).Seconds())
	status := task.ProcessState.Sys().(syscall.WaitStatus)
	if status.Signaled() {
		r.Stop["killed_by"] = status.Signal().String()
	} else {
		r.Stop["exit_code"] = strconv.Itoa(status.ExitStatus())
	}
	return nil
}

// driverNetwork polls `rkt status --format=json` until the pod has a global unicast address,
// then maps the port_map through `rkt cat-manifest`, as the driver did for a minute.
func driverNetwork(uuid string, portMap map[string]string) (string, map[string]int, error) {
	deadline := time.Now().Add(time.Minute)
	var last error
	for time.Now().Before(deadline) {
		stdout, stderr, err := run("status", "--format=json", uuid)
		if err != nil {
			last = fmt.Errorf("getting status failed: %v: %s", err, stderr)
		} else {
			var status podStatus
			if err := json.Unmarshal([]byte(stdout), &status); err != nil {
				return "", nil, fmt.Errorf("decoding status: %v", err)
			}
			for _, n := range status.Networks {
				if !n.IP.IsGlobalUnicast() {
					continue
				}
				manifestJSON, _, err := run("cat-manifest", uuid)
				if err != nil {
					return "", nil, fmt.Errorf("could not get pod manifest: %v", err)
				}
				var manifest appcschema.PodManifest
				if err := json.Unmarshal([]byte(manifestJSON), &manifest); err != nil {
					return "", nil, fmt.Errorf("could not get pod manifest: %v", err)
				}
				if len(manifest.Apps) != 1 || manifest.Apps[0].App == nil {
					return "", nil, fmt.Errorf("expected one app with an App object")
				}
				ports := map[string]int{}
				for service, portName := range portMap {
					for _, port := range manifest.Apps[0].App.Ports {
						if port.Name.String() == portName {
							ports[service] = int(port.Port)
						}
					}
				}
				return status.Networks[0].IP.String(), ports, nil
			}
			last = fmt.Errorf("no good driver networks out of %d returned", len(status.Networks))
		}
		time.Sleep(900 * time.Millisecond)
	}
	return "", nil, fmt.Errorf("timed out, last error: %v", last)
}

func waitReady(uuid string) error {
	deadline := time.Now().Add(time.Minute)
	for {
		_, stderr, err := run("status", "--wait-ready=1s", uuid)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the task did not become ready: %s", stderr)
		}
	}
}

func get(url string) (string, error) {
	client := http.Client{Timeout: 10 * time.Second}
	var last error
	for attempt := 0; attempt < 50; attempt++ {
		response, err := client.Get(url)
		if err == nil {
			defer response.Body.Close()
			var body bytes.Buffer
			body.ReadFrom(response.Body)
			return body.String(), nil
		}
		last = err
		time.Sleep(100 * time.Millisecond)
	}
	return "", fmt.Errorf("GET %s: %v", url, last)
}
