package main

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/commentd/commentd/internal/comment"
	"github.com/commentd/commentd/internal/config"
	"github.com/commentd/commentd/internal/grpcserver"
	"github.com/commentd/commentd/internal/privacy"
	"github.com/commentd/commentd/internal/ratelimit"
	"github.com/commentd/commentd/internal/redisstore"
	"github.com/commentd/commentd/internal/spam"
)

// abuse is the abuse controls as commentd runs them: the check on every submission, the
// moderators' bans and CheckComment's ban lookup. The settings behind the check can be replaced
// while it serves (reload, on SIGHUP); the bans are data in Redis and need no reload.
type abuse struct {
	screener *ratelimit.Screener // goes first among comment.Service's screeners: it sets Draft.History
	bans     *ratelimit.Bans
	// checkBans is CheckComment's ban lookup. Under shadow bans it says nothing of a ban, as the
	// submission would not either, so it follows the ban style in force (the screener's).
	checkBans spam.Bans

	store   *redisstore.Store
	keyring *privacy.Keyring
	metrics *abuseMetrics
	log     *slog.Logger
	settle  time.Duration // ratelimit.Options.Settle, from -redis-timeout, which needs a restart
}

// buildAbuse wires rate limits, duplicate control and bans from the configuration (docs/ABUSE.md),
// with metrics (newAbuseMetrics) counting what they refuse, loads their Redis scripts and logs the
// rules in force. It registers nothing, so start-up may call it again after Redis failed it.
func buildAbuse(ctx context.Context, cfg *config.Config, store *redisstore.Store, keyring *privacy.Keyring, metrics *abuseMetrics, log *slog.Logger) (*abuse, error) {
	ab := &abuse{
		bans:    ratelimit.NewBans(store, ratelimit.BansOptions{Keys: keyring}),
		store:   store,
		keyring: keyring,
		metrics: metrics,
		log:     log,
	}
	// A submission ends within its call's bound (the Redis timeout; see grpcserver's CallTimeout)
	// and its refund's; a second more for a slow machine. Without a bound, the Guard's default.
	if cfg.RedisTimeout > 0 {
		ab.settle = cfg.RedisTimeout + ratelimit.RefundTimeout + time.Second
	}
	guard, opts, staff, err := ab.controls(cfg.Abuse)
	if err != nil {
		return nil, err
	}

	// Loaded now so the first submission and the first ban change cost no extra round trip.
	loadCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := store.LoadAbuseScripts(loadCtx); err != nil {
		return nil, err
	}

	ab.screener = ratelimit.NewScreener(guard, keyring, opts)
	// A Guard without rules only looks bans up, counting nothing.
	lookup := ratelimit.NewGuard(store, ratelimit.Options{})
	ab.checkBans = styledBans{
		refuse:   grpcserver.GuardBans(lookup, keyring, false),
		shadow:   grpcserver.GuardBans(lookup, keyring, true),
		screener: ab.screener,
	}
	logAbuse(log, cfg.Abuse, staff)
	return ab, nil
}

// controls builds the Guard and the Screener's options for the settings a, and returns the number
// of trusted authors (for the log).
func (ab *abuse) controls(a config.Abuse) (*ratelimit.Guard, ratelimit.ScreenerOptions, int, error) {
	staff, err := ratelimit.TrustedAuthorKeys(ab.keyring, a.TrustedEmails)
	if err != nil {
		return nil, ratelimit.ScreenerOptions{}, 0, fmt.Errorf("abuse-trusted-emails: %w", err)
	}
	trusted, err := ratelimit.NewTrusted(staff, a.TrustedRanges)
	if err != nil {
		return nil, ratelimit.ScreenerOptions{}, 0, fmt.Errorf("abuse-trusted-ranges: %w", err)
	}
	window := a.DuplicateWindow
	if window <= 0 {
		window = -1 // the Guard reads 0 as "the default window"; the config's 0 means off
	}
	guard := ratelimit.NewGuard(ab.store, ratelimit.Options{
		Rules:           a.Rules,
		DuplicateWindow: window,
		Trusted:         trusted,
		FailOpen:        a.FailOpen,
		Timeout:         a.Timeout,
		// A shadow ban must not show in the answers: a banned reader is rate-limited and refused
		// duplicates like anyone (and so cannot fill the store with rejected comments).
		CountBanned: a.BanStyle == ratelimit.BanShadow,
		Settle:      ab.settle,
		Observer:    ab.metrics,
		Logger:      ab.log,
	})
	return guard, ratelimit.ScreenerOptions{BanStyle: a.BanStyle, HoldUnchecked: a.HoldUnchecked}, len(staff), nil
}

// reload puts the settings a in force for the submissions that start from now on; changed names
// the settings that differ from those in force before, for the log. Nothing changes when a cannot
// be built. Rule states live in Redis under the rules' names, so a rule kept under its name keeps
// its counts, as across a restart; a submission screened meanwhile ends, and is refunded, under
// the rules it started with (ratelimit.Screener.Swap).
func (ab *abuse) reload(prev, a config.Abuse, changed []string) error {
	guard, opts, staff, err := ab.controls(a)
	if err != nil {
		return err
	}
	ab.metrics.addRules(a.Rules) // before the first submission a new rule may refuse
	ab.screener.Swap(guard, opts)
	logAbuse(ab.log, a, staff)
	added, removed, altered := ruleChanges(prev.Rules, a.Rules)
	ab.log.Info("reload: abuse controls reloaded", "changed", nonNil(changed),
		"rules_added", added, "rules_removed", removed, "rules_changed", altered)
	return nil
}

// configReload reads the configuration again on SIGHUP and puts its abuse controls in force: an
// operator tightens a rule during an attack, or enforces a shadow rule, without restarting every
// replica. The file is read by config.Load with commentd's own arguments and environment, so flags
// and COMMENTD_* variables override it exactly as at start. Every other setting keeps its start-up
// value (listeners, Redis, keys and the rest are built once); a change to one is logged at WARN.
type configReload struct {
	load     func() (*config.Config, error)
	started  *config.Config // as loaded at start, before -dev filled anything in
	current  *config.Config // the last one put in force (its abuse controls)
	abuse    *abuse
	log      *slog.Logger
	reloaded *reloadMetric // its config series: whether the last reading was put in force
}

// reload runs one reload. A configuration that does not load, or a file that holds no setting,
// changes nothing: the reason is logged at ERROR and the abuse controls in force stay.
func (r *configReload) reload() {
	if r.started.ConfigFile == "" {
		r.log.Info("reload: no config file to read (-config is not set); abuse controls unchanged")
		return
	}
	next, err := r.load()
	if err != nil {
		r.reloaded.set(reloadConfig, false)
		r.log.Error("reload: config file not reloaded; the abuse controls in force stay", "config", r.started.ConfigFile, "error", err.Error())
		return
	}
	if next.FileEmpty() {
		r.reloaded.set(reloadConfig, false)
		// Most likely caught while being written: read as it is, it would put the built-in rules
		// in force and drop the trusted lists and the ban style. Going back to the defaults is
		// said in so many words (rate-limits: default, ...).
		r.log.Error("reload: config file not reloaded; the abuse controls in force stay", "config", r.started.ConfigFile,
			"error", "the file holds no setting (empty, or caught while being written); send SIGHUP again once it is written")
		return
	}
	var changed, restart []string
	for _, name := range config.Changed(r.current, next) {
		if config.IsAbuse(name) {
			changed = append(changed, name)
		}
	}
	for _, name := range config.Changed(r.started, next) {
		if !config.IsAbuse(name) {
			restart = append(restart, name)
		}
	}
	if len(restart) > 0 {
		// Names only: some of these settings are secrets.
		r.log.Warn("reload: the config file changes settings that only a restart puts in force; they keep their start-up values", "settings", restart)
	}
	if err := r.abuse.reload(r.current.Abuse, next.Abuse, changed); err != nil {
		r.reloaded.set(reloadConfig, false)
		r.log.Error("reload: abuse controls not reloaded; the ones in force stay", "config", r.started.ConfigFile, "error", err.Error())
		return
	}
	r.reloaded.set(reloadConfig, true)
	r.current = next
}

// logAbuse writes the abuse controls' line: at start, and after each reload.
func logAbuse(log *slog.Logger, a config.Abuse, staff int) {
	dup := "off"
	if a.DuplicateWindow > 0 {
		dup = a.DuplicateWindow.String()
	}
	// Staff addresses are personal data: only their number is logged. Ranges are networks.
	log.Info("abuse controls", "rate_limits", a.RulesFrom, "rules", ruleStrings(a.Rules), "duplicate_window", dup,
		"ban_style", banStyleName(a.BanStyle), "fail_open", a.FailOpen, "hold_unchecked", a.HoldUnchecked,
		"timeout", a.Timeout.String(), "trusted_authors", staff, "trusted_ranges", a.TrustedRanges)
	if a.HoldUnchecked && !a.FailOpen {
		// Not refused: fail-open is the switch an operator flips back in an emergency, and the
		// server must still start or reload then. But the setting does nothing on its own, and
		// whoever set it expected unchecked comments to be held, not refused.
		log.Warn("abuse-hold-unchecked has no effect without abuse-fail-open: when Redis fails the abuse check, submissions are refused (UNAVAILABLE), none go through unchecked to be held")
	}
}

func ruleStrings(rules []ratelimit.Rule) []string {
	out := make([]string, len(rules))
	for i, r := range rules {
		out[i] = r.String()
	}
	return out
}

// ruleChanges compares two lists of rules by name: the rules only in next, those only in prev, and
// those in both that changed, as "old -> new".
func ruleChanges(prev, next []ratelimit.Rule) (added, removed, changed []string) {
	added, removed, changed = []string{}, []string{}, []string{}
	old := make(map[string]ratelimit.Rule, len(prev))
	for _, r := range prev {
		old[r.Name] = r
	}
	kept := make(map[string]bool, len(next))
	for _, r := range next {
		kept[r.Name] = true
		switch o, ok := old[r.Name]; {
		case !ok:
			added = append(added, r.String())
		case o != r:
			changed = append(changed, o.String()+" -> "+r.String())
		}
	}
	for _, r := range prev {
		if !kept[r.Name] {
			removed = append(removed, r.String())
		}
	}
	return added, removed, changed
}

// nonNil makes a nil list log as [] rather than null.
func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// styledBans is a spam.Bans that follows the ban style in force: the screener's, so a reload
// changes the submissions' answer and CheckComment's together.
type styledBans struct {
	refuse, shadow spam.Bans
	screener       *ratelimit.Screener
}

func (b styledBans) CheckBan(ctx context.Context, d *comment.Draft) error {
	if b.screener.Options().BanStyle == ratelimit.BanShadow {
		return b.shadow.CheckBan(ctx, d)
	}
	return b.refuse.CheckBan(ctx, d)
}

func banStyleName(s ratelimit.BanStyle) string {
	if s == ratelimit.BanShadow {
		return "shadow"
	}
	return "refuse"
}

// abuseMetrics is the Guard's Observer, backed by Prometheus counters. Labels are rule names and
// ban kinds, a small set; every series starts at zero, so a rate() over them works before the
// first refusal: a rule's series is made when the rule is put in force, at start or by a reload
// (the series of a rule a reload removed stay, frozen).
type abuseMetrics struct {
	refusals, shadowRefusals, bans     *prometheus.CounterVec
	duplicates, failOpen, refundFailed prometheus.Counter
}

var _ ratelimit.Observer = (*abuseMetrics)(nil)

// newAbuseMetrics registers the abuse controls' counters on reg, with a series for each of rules.
func newAbuseMetrics(reg prometheus.Registerer, rules []ratelimit.Rule) *abuseMetrics {
	m := &abuseMetrics{
		refusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_abuse_refusals_total",
			Help: "Submissions a rate-limit rule refused, by rule (one per refusing rule).",
		}, []string{"rule"}),
		// A counter of its own rather than a label on refusals: a shadow rule refuses nothing, and
		// a sum over refusals (an alert on refused readers) must not count what nobody was refused.
		shadowRefusals: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_abuse_shadow_refusals_total",
			Help: "Submissions a shadow rate-limit rule would have refused had it been enforced, by rule; none was refused by it.",
		}, []string{"rule"}),
		bans: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commentd_abuse_bans_hit_total",
			Help: "Submissions from a banned author, address or range, by the kind of ban that matched.",
		}, []string{"kind"}),
		duplicates: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_abuse_duplicates_total",
			Help: "Submissions refused as duplicates of one the same author just made.",
		}),
		failOpen: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_abuse_fail_open_total",
			Help: "Submissions let through unchecked because Redis failed the abuse check (-abuse-fail-open).",
		}),
		refundFailed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commentd_abuse_refund_failures_total",
			Help: "Counts of refused submissions that could not be given back (limits stay a little stricter until they expire).",
		}),
	}
	m.addRules(rules)
	for _, k := range []ratelimit.TargetKind{ratelimit.TargetAuthor, ratelimit.TargetIP, ratelimit.TargetRange} {
		m.bans.WithLabelValues(k.String())
	}
	reg.MustRegister(m.refusals, m.shadowRefusals, m.bans, m.duplicates, m.failOpen, m.refundFailed)
	return m
}

// addRules makes the series of rules, at zero, where they are not yet.
func (m *abuseMetrics) addRules(rules []ratelimit.Rule) {
	for _, r := range rules {
		if r.Shadow {
			m.shadowRefusals.WithLabelValues(r.Name)
		} else {
			m.refusals.WithLabelValues(r.Name)
		}
	}
}

// Observe counts one of the Guard's events.
func (m *abuseMetrics) Observe(e ratelimit.Event, label string) {
	switch e {
	case ratelimit.EventLimited:
		m.refusals.WithLabelValues(label).Inc()
	case ratelimit.EventShadowLimited:
		m.shadowRefusals.WithLabelValues(label).Inc()
	case ratelimit.EventBanned:
		m.bans.WithLabelValues(label).Inc()
	case ratelimit.EventDuplicate:
		m.duplicates.Inc()
	case ratelimit.EventFailOpen:
		m.failOpen.Inc()
	case ratelimit.EventRefundFailed:
		m.refundFailed.Inc()
	}
}
