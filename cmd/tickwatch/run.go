package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/alecthomas/kingpin/v2"
)

func addRun(app *kingpin.Application) (*kingpin.CmdClause, action) {
	cmd := app.Command("run", "Run the sidecar (the default).").Default()
	return cmd, func(context.Context, *slog.Logger) error { return errors.New("not yet available") }
}
