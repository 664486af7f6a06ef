package main

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/tickwatch/tickwatch/simtown"
)

// startEmbeddedFleet serves a simtown fleet on a loopback port in this
// process, so that `tickwatch` with no config shows live data at once. It
// answers as the real worker does, but its dry run works (the real code's
// is refused by workerd), so the default shows every gauge.
func startEmbeddedFleet(ctx context.Context, logger *slog.Logger, towns int, seed int64, faultRate float64) (url string, stop func(), err error) {
	fleet, err := simtown.New(simtown.Options{Towns: towns, Seed: seed, FaultRate: faultRate, SideEffectFailureRate: 0.02,
		Logger: logger.With("component", "simtown")})
	if err != nil {
		return "", nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fleet.Close()
		return "", nil, err
	}
	fleetCtx, cancel := context.WithCancel(ctx)
	go fleet.Start(fleetCtx)
	demoDone := make(chan struct{})
	go func() { defer close(demoDone); runDemo(fleetCtx, fleet, logger) }()
	srv := &http.Server{Handler: fleet.Handler(), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("embedded simtown stopped", "err", err)
		}
	}()
	url = "http://" + ln.Addr().String()
	logger.Info("no target configured: watching an embedded simtown fleet", "url", url, "towns", towns)
	return url, func() {
		cancel()
		shutdownCtx, done := context.WithTimeout(context.Background(), 2*time.Second)
		defer done()
		srv.Shutdown(shutdownCtx)
		<-demoDone
		fleet.Close()
	}, nil
}
