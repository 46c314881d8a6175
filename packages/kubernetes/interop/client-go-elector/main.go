// Command client-go-elector runs one candidate of a client-go leader election
// (k8s.io/client-go/tools/leaderelection with a resourcelock.LeaseLock) and reports what happens
// as JSON lines on stdout, so that Tenure's interop test can run it beside Tenure electors on the
// same Lease:
//
//	{"event":"ready","identity":"go-1","monotonicNs":"123"}
//	{"event":"new-leader","identity":"ts-2","monotonicNs":"456"}
//	{"event":"started-leading","monotonicNs":"789"}
//	{"event":"stopped-leading","monotonicNs":"1011"}
//	{"event":"exiting","code":0,"monotonicNs":"1213"}
//
// With --report-writes it also reports every write it makes to the Lease once its answer is in,
// so a test can tell when the leader learnt that a renewal landed (client-go has no callback for
// that):
//
//	{"event":"write","call":"update","ok":true,"holderIdentity":"go-1",
//	 "renewTime":"2026-11-29T17:50:58.418123Z","sentNs":"1300","monotonicNs":"1450"}
//
// sentNs is when the call started, monotonicNs when it returned; renewTime is the record's
// renewTime as the Lease stores it (MicroTime), so the write can be matched with the version a
// watch delivers; a failed write carries "ok":false and "error".
//
// monotonicNs is CLOCK_MONOTONIC in nanoseconds, the clock Node's process.hrtime.bigint() reads
// on Linux, so both sides' leadership intervals can be compared on one clock. It is a decimal
// string because a JSON number loses precision above 2^53 ns (104 days of uptime).
//
// With --coordinated it runs as a candidate of Coordinated Leader Election (KEP-4355): it publishes
// a LeaseCandidate named after --identity (leaderelection.NewCandidate, with --binary-version,
// --emulation-version and --strategy), answers the coordinator's pings through it, and runs the
// elector with LeaderElectionConfig.Coordinated, so it never takes the Lease itself and stops
// renewing when the Lease names a preferredHolder.
//
// SIGTERM or SIGINT cancels the election context (so the lease is released when
// --release-on-cancel) and the program exits 0. Losing the lease while leading exits 1, like the
// Kubernetes components do. client-go's own logs (klog) go to stderr.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path of the kubeconfig to use (required)")
	namespace := flag.String("namespace", "default", "namespace of the Lease")
	name := flag.String("name", "", "name of the Lease (required)")
	identity := flag.String("identity", "", "this candidate's identity (required)")
	leaseDuration := flag.Duration("lease-duration", 15*time.Second, "LeaderElectionConfig.LeaseDuration")
	renewDeadline := flag.Duration("renew-deadline", 10*time.Second, "LeaderElectionConfig.RenewDeadline")
	retryPeriod := flag.Duration("retry-period", 2*time.Second, "LeaderElectionConfig.RetryPeriod")
	releaseOnCancel := flag.Bool("release-on-cancel", true, "LeaderElectionConfig.ReleaseOnCancel")
	reportWrites := flag.Bool("report-writes", false, "print a \"write\" event for every create or update of the Lease")
	coordinated := flag.Bool("coordinated", false, "Coordinated Leader Election: publish a LeaseCandidate and let the coordinator pick")
	binaryVersion := flag.String("binary-version", "1.36.0", "LeaseCandidate spec.binaryVersion (with --coordinated)")
	emulationVersion := flag.String("emulation-version", "", "LeaseCandidate spec.emulationVersion (with --coordinated; default --binary-version)")
	strategy := flag.String("strategy", string(coordinationv1.OldestEmulationVersion), "LeaseCandidate spec.strategy (with --coordinated)")
	flag.Parse()
	if *kubeconfig == "" || *name == "" || *identity == "" {
		fmt.Fprintln(os.Stderr, "client-go-elector: --kubeconfig, --name and --identity are required")
		flag.Usage()
		os.Exit(2)
	}

	out := &reporter{encoder: json.NewEncoder(os.Stdout)}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		fail(out, fmt.Errorf("loading %s: %w", *kubeconfig, err))
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		fail(out, fmt.Errorf("creating the client: %w", err))
	}
	var lock resourcelock.Interface = &resourcelock.LeaseLock{
		LeaseMeta:  metav1.ObjectMeta{Namespace: *namespace, Name: *name},
		Client:     client.CoordinationV1(),
		LockConfig: resourcelock.ResourceLockConfig{Identity: *identity},
	}
	if *reportWrites {
		lock = &reportingLock{Interface: lock, out: out}
	}
	ctx, cancel := context.WithCancel(context.Background())
	if *coordinated {
		if *emulationVersion == "" {
			*emulationVersion = *binaryVersion
		}
		candidate, informers, err := leaderelection.NewCandidate(client, *namespace, *identity, *name,
			*binaryVersion, *emulationVersion, coordinationv1.CoordinatedLeaseStrategy(*strategy))
		if err != nil {
			fail(out, fmt.Errorf("creating the LeaseCandidate: %w", err))
		}
		go candidate.Run(ctx)
		informers.WaitForCacheSync(ctx.Done())
	}
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Coordinated:     *coordinated,
		Lock:            lock,
		Name:            *name,
		LeaseDuration:   *leaseDuration,
		RenewDeadline:   *renewDeadline,
		RetryPeriod:     *retryPeriod,
		ReleaseOnCancel: *releaseOnCancel,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: out.lead,
			OnStoppedLeading: func() {},
			OnNewLeader: func(leader string) {
				out.emit(map[string]any{"event": "new-leader", "identity": leader})
			},
		},
	})
	if err != nil {
		fail(out, err)
	}

	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		// Report the end of leadership before cancelling: with ReleaseOnCancel, client-go writes
		// the release before the leadership context's watchers get to run.
		out.stop()
		cancel()
	}()

	out.emit(map[string]any{"event": "ready", "identity": *identity})
	elector.Run(ctx) // returns when ctx is cancelled, or when the lease is lost after leading
	if ctx.Err() == nil {
		out.stop()
		out.emit(map[string]any{"event": "exiting", "code": 1, "reason": "leadership lost"})
		os.Exit(1)
	}
	out.emit(map[string]any{"event": "exiting", "code": 0, "reason": "signal"})
}

// reportingLock passes every call to the Lease lock and reports each write's outcome. client-go
// makes the same calls, with the same contexts, in the same order; each write only takes the time
// to print one line longer.
type reportingLock struct {
	resourcelock.Interface
	out *reporter
}

func (l *reportingLock) Create(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	sentNs := monotonicNs()
	err := l.Interface.Create(ctx, record)
	l.report("create", record, sentNs, err)
	return err
}

func (l *reportingLock) Update(ctx context.Context, record resourcelock.LeaderElectionRecord) error {
	sentNs := monotonicNs()
	err := l.Interface.Update(ctx, record)
	l.report("update", record, sentNs, err)
	return err
}

func (l *reportingLock) report(call string, record resourcelock.LeaderElectionRecord, sentNs int64, err error) {
	fields := map[string]any{
		"event":          "write",
		"call":           call,
		"ok":             err == nil,
		"holderIdentity": record.HolderIdentity,
		// As the Lease stores it: MicroTime, RFC 3339 in UTC with exactly 6 fractional digits.
		"renewTime": record.RenewTime.UTC().Format("2006-01-02T15:04:05.000000Z07:00"),
		"sentNs":    strconv.FormatInt(sentNs, 10),
	}
	if err != nil {
		fields["error"] = err.Error()
	}
	l.out.emit(fields)
}

// reporter writes one JSON object per line, stamped with CLOCK_MONOTONIC, and tracks whether
// this candidate leads so that each term reports exactly one started-leading and one
// stopped-leading. On a signal, stopped-leading comes before the release is written; when the
// lease is lost, client-go tries the release (with ReleaseOnCancel) before it ends the leadership
// context, and stopped-leading reports that end.
type reporter struct {
	mu       sync.Mutex
	encoder  *json.Encoder
	leading  bool
	stopping bool
}

// lead is OnStartedLeading: it reports the term and waits for its context to end.
func (r *reporter) lead(ctx context.Context) {
	r.mu.Lock()
	if r.stopping || ctx.Err() != nil {
		// A signal arrived as the lease was won: this term never gets to act.
		r.mu.Unlock()
		return
	}
	r.leading = true
	r.emitLocked(map[string]any{"event": "started-leading"})
	r.mu.Unlock()
	<-ctx.Done()
	r.endTerm(false)
}

// stop reports the end of the term, if any, because the program is stopping.
func (r *reporter) stop() { r.endTerm(true) }

func (r *reporter) endTerm(stopping bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopping = r.stopping || stopping
	if r.leading {
		r.leading = false
		r.emitLocked(map[string]any{"event": "stopped-leading"})
	}
}

func (r *reporter) emit(fields map[string]any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.emitLocked(fields)
}

func (r *reporter) emitLocked(fields map[string]any) {
	fields["monotonicNs"] = strconv.FormatInt(monotonicNs(), 10)
	if err := r.encoder.Encode(fields); err != nil {
		fmt.Fprintf(os.Stderr, "client-go-elector: writing to stdout: %v\n", err)
	}
}

func monotonicNs() int64 {
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		panic(err) // CLOCK_MONOTONIC always exists on Linux
	}
	return now.Nano()
}

func fail(out *reporter, err error) {
	fmt.Fprintf(os.Stderr, "client-go-elector: %v\n", err)
	out.emit(map[string]any{"event": "exiting", "code": 1, "reason": err.Error()})
	os.Exit(1)
}
