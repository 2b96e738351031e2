package main

import (
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/moderation"
	"github.com/commentd/commentd/internal/redisstore"
)

// buildWorkflow adds the moderator workflow to the moderation service's options: the audit log,
// review claims, readers' reports, queue events, statistics, erasure and access requests all live in the
// Redis store, and the report threshold comes from the configuration. (Thread auto-close is the store's own
// option, as its submit script applies it.)
func buildWorkflow(opts moderation.Options, store *redisstore.Store, cfg *config.Config) moderation.Options {
	opts.Audit = store
	opts.Claims = store
	opts.Reports = store
	opts.Feed = store
	opts.Stats = store
	opts.ReportThreshold = cfg.Workflow.ReportThreshold
	opts.Eraser = store
	opts.Exporter = store
	// An erasure or an export walks the whole store, so only each of its Redis calls has the usual bound.
	opts.EraseCallTimeout = cfg.RedisTimeout
	return opts
}
