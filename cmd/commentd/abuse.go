package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
)

// abuse is the abuse controls as commentd runs them: the check on every submission and the
// moderators' bans.
type abuse struct {
	screener *ratelimit.Screener // goes first among comment.Service's screeners: it sets Draft.History
	bans     *ratelimit.Bans
}

// buildAbuse wires rate limits, duplicate control and bans from the configuration (docs/ABUSE.md),
// with obs (newAbuseMetrics) counting what they refuse, loads their Redis scripts and logs the
// rules in force. It registers nothing, so start-up may call it again after Redis failed it.
func buildAbuse(ctx context.Context, cfg *config.Config, store *redisstore.Store, keyring *privacy.Keyring, obs ratelimit.Observer, log *slog.Logger) (abuse, error) {
	a := cfg.Abuse
	staff, err := ratelimit.TrustedAuthorKeys(keyring, a.TrustedEmails)
	if err != nil {
		return abuse{}, fmt.Errorf("abuse-trusted-emails: %w", err)
	}
	trusted, err := ratelimit.NewTrusted(staff, a.TrustedRanges)
	if err != nil {
		return abuse{}, fmt.Errorf("abuse-trusted-ranges: %w", err)
	}
	window := a.DuplicateWindow
	if window <= 0 {
		window = -1 // the Guard reads 0 as "the default window"; the config's 0 means off
	}
	// A submission ends within its call's bound (the Redis timeout; see grpcserver's CallTimeout)
	// and its refund's; a second more for a slow machine. Without a bound, the Guard's default.
	var settle time.Duration
	if cfg.RedisTimeout > 0 {
		settle = cfg.RedisTimeout + ratelimit.RefundTimeout + time.Second
	}
	guard := ratelimit.NewGuard(store, ratelimit.Options{
		Rules:           a.Rules,
		DuplicateWindow: window,
		Trusted:         trusted,
		FailOpen:        a.FailOpen,
		Timeout:         a.Timeout,
		// A shadow ban must not show in the answers: a banned reader is rate-limited and refused
		// duplicates like anyone (and so cannot fill the store with rejected comments).
		CountBanned: a.BanStyle == ratelimit.BanShadow,
		Settle:      settle,
		Observer:    obs,
		Logger:      log,
	})

	// Loaded now so the first submission and the first ban change cost no extra round trip.
	loadCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.LoadAbuseScripts(loadCtx); err != nil {
		return abuse{}, err
	}

	rules := make([]string, len(a.Rules))
	for i, r := range a.Rules {
		rules[i] = r.String()
	}
	dup := "off"
	if window > 0 {
		dup = window.String()
	}
	// Staff addresses are personal data: only their number is logged. Ranges are networks.
	log.Info("abuse controls", "rate_limits", a.RulesFrom, "rules", rules, "duplicate_window", dup,
		"ban_style", banStyleName(a.BanStyle), "fail_open", a.FailOpen, "hold_unchecked", a.HoldUnchecked,
		"timeout", a.Timeout.String(), "trusted_authors", len(staff), "trusted_ranges", a.TrustedRanges)

	return abuse{
		screener: ratelimit.NewScreener(guard, keyring, ratelimit.ScreenerOptions{BanStyle: a.BanStyle, HoldUnchecked: a.HoldUnchecked}),
		bans:     ratelimit.NewBans(store, ratelimit.BansOptions{Keys: keyring}),
	}, nil
}

func banStyleName(s ratelimit.BanStyle) string {
	if s == ratelimit.BanShadow {
		return "shadow"
	}
	return "refuse"
}

// newAbuseMetrics returns the Guard's Observer, backed by Prometheus counters registered on reg.
// Labels are rule names and ban kinds, a small fixed set; every series starts at zero, so a rate()
// over them works before the first refusal.
func newAbuseMetrics(reg prometheus.Registerer, rules []ratelimit.Rule) ratelimit.Observer {
	refusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commentd_abuse_refusals_total",
		Help: "Submissions a rate-limit rule refused, by rule (one per refusing rule).",
	}, []string{"rule"})
	// A counter of its own rather than a label on refusals: a shadow rule refuses nothing, and
	// a sum over refusals (an alert on refused readers) must not count what nobody was refused.
	shadowRefusals := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commentd_abuse_shadow_refusals_total",
		Help: "Submissions a shadow rate-limit rule would have refused had it been enforced, by rule; none was refused by it.",
	}, []string{"rule"})
	bans := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "commentd_abuse_bans_hit_total",
		Help: "Submissions from a banned author, address or range, by the kind of ban that matched.",
	}, []string{"kind"})
	duplicates := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "commentd_abuse_duplicates_total",
		Help: "Submissions refused as duplicates of one the same author just made.",
	})
	failOpen := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "commentd_abuse_fail_open_total",
		Help: "Submissions let through unchecked because Redis failed the abuse check (-abuse-fail-open).",
	})
	refundFailed := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "commentd_abuse_refund_failures_total",
		Help: "Counts of refused submissions that could not be given back (limits stay a little stricter until they expire).",
	})
	for _, r := range rules {
		if r.Shadow {
			shadowRefusals.WithLabelValues(r.Name)
		} else {
			refusals.WithLabelValues(r.Name)
		}
	}
	for _, k := range []ratelimit.TargetKind{ratelimit.TargetAuthor, ratelimit.TargetIP, ratelimit.TargetRange} {
		bans.WithLabelValues(k.String())
	}
	reg.MustRegister(refusals, shadowRefusals, bans, duplicates, failOpen, refundFailed)
	return ratelimit.ObserverFunc(func(e ratelimit.Event, label string) {
		switch e {
		case ratelimit.EventLimited:
			refusals.WithLabelValues(label).Inc()
		case ratelimit.EventShadowLimited:
			shadowRefusals.WithLabelValues(label).Inc()
		case ratelimit.EventBanned:
			bans.WithLabelValues(label).Inc()
		case ratelimit.EventDuplicate:
			duplicates.Inc()
		case ratelimit.EventFailOpen:
			failOpen.Inc()
		case ratelimit.EventRefundFailed:
			refundFailed.Inc()
		}
	})
}
