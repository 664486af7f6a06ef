package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"
)

// runBare is the baseline: a keep-alive net/http client that makes every
// town's two calls (status, then dry run) every interval with the given
// concurrency, and discards the bodies. It runs until SIGTERM.
func runBare(url, caFile string, towns, concurrency int, interval time.Duration) error {
	tr := &http.Transport{MaxIdleConnsPerHost: concurrency, MaxIdleConns: concurrency}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no certificate", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool}
	}
	client := &http.Client{Transport: tr, Timeout: interval}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	call := func(method, path string) {
		req, err := http.NewRequestWithContext(ctx, method, url+path, nil)
		if err != nil {
			return
		}
		resp, err := client.Do(req)
		if err != nil {
			return
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		work := make(chan int)
		var wg sync.WaitGroup
		for range concurrency {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range work {
					town := "/debug/towns/" + townID(i)
					call(http.MethodGet, town+"/status")
					call(http.MethodPost, town+"/reconcile-dry-run")
				}
			}()
		}
		for i := range towns {
			work <- i
		}
		close(work)
		wg.Wait()
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}
