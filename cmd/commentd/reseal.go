package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"text/tabwriter"
	"time"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/redisstore"
)

// progressEvery is how often a walk logs how far it got: a store of millions of comments takes
// minutes, and an operator must see that it moves.
const progressEvery = 5 * time.Second

// runReseal is "commentd reseal": a one-shot job, run with the servers' configuration, that seals
// again with the first encryption key every stored email and IP another key sealed, then counts
// the sealed values per key once more, so the report says whether an old key is still used.
// With -dry-run it only counts. The report goes to stdout, progress to the log on stderr; neither
// ever holds a sealed value or an address, only counts, key ids and comment ids.
//
// It is a command rather than a flag of the server so that no configuration (a config file, an
// environment) can turn every replica into a job that rewrites records and exits.
func runReseal(ctx context.Context, args []string, stdout, stderr io.Writer, environ []string) error {
	cfg, opts, err := config.LoadReseal(args, lookupEnv(environ), stderr)
	if err != nil {
		return err
	}
	level := new(slog.LevelVar)
	level.UnmarshalText([]byte(cfg.LogLevel)) // validated by config.LoadReseal
	log := slog.New(slog.NewJSONHandler(stderr, &slog.HandlerOptions{Level: level}))
	redisLogLevel.Set(level.Level())
	log.Info("starting commentd reseal", append(cfg.LogAttrs(), "dry_run", opts.DryRun)...)
	warnUnknownEnv(log, environ)

	keyring, err := privacy.NewKeyring(privacy.Options{EncryptionKeys: cfg.EncryptionKeys, HashKey: cfg.HashKey})
	if err != nil {
		return fmt.Errorf("encryption keys: %w", err)
	}
	rdb, err := redisstore.NewClient(cfg.RedisURL)
	if err != nil {
		return fmt.Errorf("redis-url: %w", err)
	}
	defer rdb.Close()
	startCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	store, err := redisstore.New(startCtx, rdb, redisstore.Options{Prefix: cfg.RedisPrefix})
	cancel()
	if err != nil {
		return fmt.Errorf("redis store: %w", err)
	}

	var last time.Time
	r := comment.NewResealer(store, keyring, comment.ResealOptions{
		CallTimeout: cfg.RedisTimeout,
		Progress: func(rep comment.ResealReport) {
			if time.Since(last) < progressEvery {
				return
			}
			last = time.Now()
			log.Info("reseal: progress", "records", rep.Records, "values", rep.Values, "resealed", rep.Resealed, "changed", rep.Changed, "unopened", rep.UnopenedCount)
		},
	})
	if opts.DryRun {
		rep, err := r.Count(ctx)
		if err != nil && !errors.Is(err, comment.ErrUnopened) {
			printCounts(stdout, "Sealed values by key, as far as the walk got before it stopped:", keyring, rep)
			return fmt.Errorf("reseal: %w", err)
		}
		printCounts(stdout, "Sealed values by key (dry run: nothing written):", keyring, rep)
		printUnopened(stdout, rep)
		log.Info("reseal: counted", "records", rep.Records, "values", rep.Values, "unopened", rep.UnopenedCount)
		return resealErr(err)
	}

	started := time.Now()
	before, err := r.Reseal(ctx)
	if err != nil && !errors.Is(err, comment.ErrUnopened) {
		printCounts(stdout, "Sealed values by key, as found before the walk stopped:", keyring, before)
		printResealed(stdout, keyring, before)
		fmt.Fprintln(stdout, "The walk did not finish; what it wrote stays. Run commentd reseal again to finish.")
		return fmt.Errorf("reseal: %w", err)
	}
	printCounts(stdout, "Sealed values by key, before:", keyring, before)
	printResealed(stdout, keyring, before)
	after, err := r.Count(ctx)
	if err != nil && !errors.Is(err, comment.ErrUnopened) {
		return fmt.Errorf("reseal: count after re-sealing: %w", err)
	}
	printCounts(stdout, "Sealed values by key, after:", keyring, after)
	printUnopened(stdout, after)
	log.Info("reseal: done", "records", after.Records, "values", after.Values, "resealed", before.Resealed, "changed", before.Changed, "unopened", after.UnopenedCount, "took", time.Since(started).Round(time.Millisecond).String())
	return resealErr(err)
}

// resealErr is the command's error for a walk that went through every record: nil, or one that
// says some values did not open (listed above it), which makes commentd exit 1.
func resealErr(err error) error {
	if err != nil {
		return fmt.Errorf("reseal: %w (listed above; see the README's key rotation)", err)
	}
	return nil
}

// printCounts writes the table of sealed values per key: the keyring's keys in their order, then
// any other key ids the walk found, by name.
func printCounts(w io.Writer, title string, keys *privacy.Keyring, rep comment.ResealReport) {
	ids := keys.KeyIDs()
	var others []string
	for id := range rep.ByKey {
		if !slices.Contains(ids, id) {
			others = append(others, id)
		}
	}
	slices.Sort(others)
	fmt.Fprintf(w, "%s\n", title)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KEY\tVALUES\t")
	for _, id := range append(ids, others...) {
		note := ""
		switch {
		case id == keys.Primary():
			note = "seals new values"
		case !slices.Contains(ids, id):
			note = "NOT in -encryption-keys: these values do not open"
		case rep.ByKey[id] == 0:
			note = "no stored value needs it"
		}
		fmt.Fprintf(tw, "  %s\t%d\t%s\n", id, rep.ByKey[id], note)
	}
	tw.Flush()
	fmt.Fprintf(w, "  %s in %s; %d do not open.\n\n", count(rep.Values, "value"), count(rep.Records, "comment"), rep.UnopenedCount)
}

// count is n with noun, in the plural unless n is 1: "1 value", "10 values".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

func printResealed(w io.Writer, keys *privacy.Keyring, rep comment.ResealReport) {
	fmt.Fprintf(w, "Re-sealed with %s: %s.\n", keys.Primary(), count(rep.Resealed, "value"))
	if rep.Changed > 0 {
		fmt.Fprintf(w, "Changed by another writer while the walk ran, so left as they were: %s (run commentd reseal again for them).\n", count(rep.Changed, "value"))
	}
	fmt.Fprintln(w)
}

// printUnopened names the values that did not open, by comment id and field only.
func printUnopened(w io.Writer, rep comment.ResealReport) {
	if rep.UnopenedCount == 0 {
		return
	}
	fmt.Fprintf(w, "Values that do not open: %d\n", rep.UnopenedCount)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  COMMENT\tFIELD\tWHY\t")
	for _, u := range rep.Unopened {
		why := "fails authentication: altered, moved from another record, or not a sealed value"
		if u.UnknownKey {
			why = "sealed with a key not in -encryption-keys"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", u.ID, u.Field, why)
	}
	tw.Flush()
	if n := rep.UnopenedCount - len(rep.Unopened); n > 0 {
		fmt.Fprintf(w, "  ... and %d more (only the first %d are listed)\n", n, comment.MaxListedUnopened)
	}
	fmt.Fprintln(w)
}
