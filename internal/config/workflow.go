package config

import (
	"fmt"
	"strconv"
	"time"
)

// Workflow is the configuration of the moderator workflow: readers' reports, thread auto-close
// and how deep replies nest.
type Workflow struct {
	// ReportThreshold is how many distinct readers' reports take a published comment down into the
	// moderation queue.
	ReportThreshold int
	// CloseThreadsAfter closes a thread to new comments this long after its first comment
	// that is not spam (or its last reopening by a moderator); 0 never does.
	CloseThreadsAfter time.Duration
	// MaxReplyDepth is the deepest a reply may be nested (a top-level comment is at depth 0); 0
	// sets no bound.
	MaxReplyDepth int
}

// Bounds of the workflow settings.
const (
	maxReportThreshold = 1000
	// maxReplyDepth bounds -max-reply-depth: no page indents a thousand levels, and the bound
	// keeps the setting a nesting limit rather than a number nobody reads.
	maxReplyDepth = 1000
	// maxCloseThreadsAfter bounds -close-threads-after at a century. The store's scripts add the
	// period to a time in µs in Lua, whose numbers are doubles: exact below 2^53 µs (year 2255),
	// which a time plus a century stays below until 2155, and a period of centuries does not (a
	// thread's etag computed there no longer matched the server's, so every thread update sent
	// with one was refused). A century closes nothing anyway.
	maxCloseThreadsAfter = 100 * 365 * 24 * time.Hour
)

// workflowSettings are the workflow's rows of the settings table.
func workflowSettings() []setting {
	return []setting{
		{name: "report-threshold", env: "COMMENTD_REPORT_THRESHOLD", def: "3",
			usage: "distinct readers' reports that take a published comment down into the moderation queue (readers are told apart by the reporter_id, else the client_ip, sent with the report; the reports of a comment with neither count as one reader per API key)",
			apply: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("want a whole number, got %q", v)
				}
				c.Workflow.ReportThreshold = n
				return nil
			},
			show: func(c *Config) string { return strconv.Itoa(c.Workflow.ReportThreshold) }},
		{name: "close-threads-after", env: "COMMENTD_CLOSE_THREADS_AFTER", def: "0s",
			usage: "close a thread to new comments this long after its first comment that is not spam, such as 720h; 0 never (moderators can reopen it, for another such period)",
			apply: func(c *Config, v string) error {
				d, err := time.ParseDuration(v)
				if err != nil {
					return fmt.Errorf("want a duration such as 720h, got %q", v)
				}
				c.Workflow.CloseThreadsAfter = d
				return nil
			},
			show: func(c *Config) string { return c.Workflow.CloseThreadsAfter.String() }},
		{name: "max-reply-depth", env: "COMMENTD_MAX_REPLY_DEPTH", def: "0",
			usage: "the deepest a reply may be nested, a top-level comment being at depth 0: a reply to a comment at this depth is refused (WordPress's \"threaded comments 5 levels deep\" is 4); 0 sets no bound",
			apply: func(c *Config, v string) error {
				n, err := strconv.Atoi(v)
				if err != nil {
					return fmt.Errorf("want a whole number, got %q", v)
				}
				c.Workflow.MaxReplyDepth = n
				return nil
			},
			show: func(c *Config) string { return strconv.Itoa(c.Workflow.MaxReplyDepth) }},
	}
}

func (w *Workflow) validate() []error {
	var errs []error
	if w.ReportThreshold < 1 || w.ReportThreshold > maxReportThreshold {
		errs = append(errs, fmt.Errorf("report-threshold %d: want 1 to %d", w.ReportThreshold, maxReportThreshold))
	}
	if w.MaxReplyDepth < 0 || w.MaxReplyDepth > maxReplyDepth {
		errs = append(errs, fmt.Errorf("max-reply-depth %d: want 0 (no bound) to %d", w.MaxReplyDepth, maxReplyDepth))
	}
	switch {
	case w.CloseThreadsAfter < 0:
		errs = append(errs, fmt.Errorf("close-threads-after %s: must not be negative", w.CloseThreadsAfter))
	case w.CloseThreadsAfter > maxCloseThreadsAfter:
		errs = append(errs, fmt.Errorf("close-threads-after %s: want at most %s (a century), or 0 for never", w.CloseThreadsAfter, maxCloseThreadsAfter))
	case w.CloseThreadsAfter%time.Microsecond != 0:
		// The store keeps the period in whole microseconds (create.lua's ARGV[12]): 1ns was 0
		// there, so submissions were taken for ever while GetThread reported the thread closed,
		// and 1500ns closed threads a little earlier than GetThread said.
		errs = append(errs, fmt.Errorf("close-threads-after %s: the store counts it in whole microseconds; give a whole number of them, such as 720h, or 0 for never", w.CloseThreadsAfter))
	}
	return errs
}
