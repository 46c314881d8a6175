// Command endpoints-elector stands in for the 2016 leader-elector sidecar
// (gcr.io/google_containers/leader-elector, kubernetes/contrib election/) in tests: one candidate of
// an Endpoints annotation election, run by client-go's tools/leaderelection with
// resourcelock.EndpointsLock, which client-go removed in v0.24. It keeps what the 2016 sidecar did:
//
//   - the lock is the control-plane.alpha.kubernetes.io/leader annotation of the Endpoints object
//     named after the election, in --election-namespace;
//   - the Endpoints object is created empty at start when missing, before campaigning;
//   - lease duration = --ttl, renew deadline = ttl/2, retry period = ttl/4;
//   - the lock is not released on shutdown (ReleaseOnCancel came to client-go in 2018), unless
//     --release-on-cancel;
//   - after losing the lease it campaigns again, as the 2016 sidecar's wait.Forever loop did.
//
// It reports what happens as JSON lines on stdout, in the format of the client-go-elector interop
// peer, so the same parser reads both:
//
//	{"event":"ready","identity":"old-1","monotonicNs":"123"}
//	{"event":"new-leader","identity":"new-2","monotonicNs":"456"}
//	{"event":"started-leading","monotonicNs":"789"}
//	{"event":"stopped-leading","monotonicNs":"1011"}
//	{"event":"exiting","code":0,"reason":"signal","monotonicNs":"1213"}
//
// monotonicNs is CLOCK_MONOTONIC in nanoseconds (Node's process.hrtime.bigint() on Linux), so a test
// can put every candidate's leadership on one clock. stopped-leading is printed before the program
// stops acting: on a signal, before the election context is cancelled; on a lost lease, when
// client-go ends the leadership context. client-go's own logs (klog) go to stderr.
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
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "path of the kubeconfig to use (required)")
	election := flag.String("election", "", "the name of the election: the Endpoints object (required)")
	namespace := flag.String("election-namespace", "default", "the namespace of the Endpoints object")
	id := flag.String("id", "", "this candidate's identity (required)")
	ttl := flag.Duration("ttl", 10*time.Second, "the lease duration; renew deadline ttl/2, retry period ttl/4")
	releaseOnCancel := flag.Bool("release-on-cancel", false, "release the lock on SIGTERM (the 2016 sidecar did not)")
	flag.Parse()
	if *kubeconfig == "" || *election == "" || *id == "" {
		fmt.Fprintln(os.Stderr, "endpoints-elector: --kubeconfig, --election and --id are required")
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

	ctx, cancel := context.WithCancel(context.Background())
	signals := make(chan os.Signal, 1)
	signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-signals
		// Report the end of leadership before cancelling: with --release-on-cancel, client-go writes
		// the release before the leadership context's watchers get to run.
		out.stop()
		cancel()
	}()

	// As the 2016 sidecar did: make sure the Endpoints object exists before campaigning.
	endpoints := client.CoreV1().Endpoints(*namespace)
	if _, err := endpoints.Get(ctx, *election, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		_, err = endpoints.Create(ctx, &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: *election}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			fail(out, fmt.Errorf("creating endpoints %s/%s: %w", *namespace, *election, err))
		}
	} else if err != nil {
		fail(out, fmt.Errorf("reading endpoints %s/%s: %w", *namespace, *election, err))
	}

	out.emit(map[string]any{"event": "ready", "identity": *id})
	for ctx.Err() == nil {
		elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
			Lock: &resourcelock.EndpointsLock{
				EndpointsMeta: metav1.ObjectMeta{Namespace: *namespace, Name: *election},
				Client:        client.CoreV1(),
				LockConfig:    resourcelock.ResourceLockConfig{Identity: *id},
			},
			Name:            *election,
			LeaseDuration:   *ttl,
			RenewDeadline:   *ttl / 2,
			RetryPeriod:     *ttl / 4,
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
		elector.Run(ctx) // returns when ctx is cancelled, or when the lease is lost after leading
		out.endTerm(false)
	}
	out.emit(map[string]any{"event": "exiting", "code": 0, "reason": "signal"})
}

// reporter writes one JSON object per line, stamped with CLOCK_MONOTONIC, and tracks whether this
// candidate leads, so that each term reports exactly one started-leading and one stopped-leading.
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
		fmt.Fprintf(os.Stderr, "endpoints-elector: writing to stdout: %v\n", err)
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
	fmt.Fprintf(os.Stderr, "endpoints-elector: %v\n", err)
	out.emit(map[string]any{"event": "exiting", "code": 1, "reason": err.Error()})
	os.Exit(1)
}
