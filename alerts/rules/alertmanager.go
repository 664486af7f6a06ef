package rules

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/common/model"
)

// Receiver names of the generated Alertmanager config.
const (
	ReceiverPagerDuty = "tickwatch-pagerduty"
	ReceiverWarnings  = "tickwatch-warnings"
)

// AlertmanagerOptions are the site-specific parts of the Alertmanager
// config; routing, grouping and inhibition are fixed by the alerts.
type AlertmanagerOptions struct {
	// PagerDutyRoutingKeyFile holds the Events v2 integration key (a secret,
	// so only its path is in the config).
	PagerDutyRoutingKeyFile string
	// PagerDutyURL overrides the Events v2 endpoint; "" keeps PagerDuty's.
	PagerDutyURL string
	// WebhookURL receives warnings as Alertmanager webhook JSON.
	WebhookURL string
	// SlackAPIURLFile holds a Slack incoming-webhook URL; "" means no Slack.
	SlackAPIURLFile string
	SlackChannel    string

	GroupWait, GroupInterval   time.Duration
	RepeatInterval, PageRepeat time.Duration
}

// DefaultAlertmanagerOptions is the example checked in under deploy/alertmanager.
func DefaultAlertmanagerOptions() AlertmanagerOptions {
	return AlertmanagerOptions{
		PagerDutyRoutingKeyFile: "/etc/alertmanager/secrets/pagerduty-routing-key",
		WebhookURL:              "http://alert-relay.monitoring.svc:8080/hooks/tickwatch",
		SlackAPIURLFile:         "/etc/alertmanager/secrets/slack-webhook-url",
		SlackChannel:            "#tickwatch-alerts",
		GroupWait:               30 * time.Second,
		GroupInterval:           5 * time.Minute,
		RepeatInterval:          12 * time.Hour,
		PageRepeat:              4 * time.Hour,
	}
}

type amConfig struct {
	Route        amRoute      `yaml:"route"`
	InhibitRules []amInhibit  `yaml:"inhibit_rules"`
	Receivers    []amReceiver `yaml:"receivers"`
}

type amRoute struct {
	Receiver       string         `yaml:"receiver"`
	GroupBy        []string       `yaml:"group_by,omitempty"`
	GroupWait      model.Duration `yaml:"group_wait,omitempty"`
	GroupInterval  model.Duration `yaml:"group_interval,omitempty"`
	RepeatInterval model.Duration `yaml:"repeat_interval,omitempty"`
	Matchers       []string       `yaml:"matchers,omitempty"`
	Routes         []amRoute      `yaml:"routes,omitempty"`
}

type amInhibit struct {
	SourceMatchers []string `yaml:"source_matchers"`
	TargetMatchers []string `yaml:"target_matchers"`
	Equal          []string `yaml:"equal"`
}

type amReceiver struct {
	Name             string        `yaml:"name"`
	PagerDutyConfigs []amPagerDuty `yaml:"pagerduty_configs,omitempty"`
	WebhookConfigs   []amWebhook   `yaml:"webhook_configs,omitempty"`
	SlackConfigs     []amSlack     `yaml:"slack_configs,omitempty"`
}

type amPagerDuty struct {
	SendResolved   bool              `yaml:"send_resolved"`
	RoutingKeyFile string            `yaml:"routing_key_file"`
	URL            string            `yaml:"url,omitempty"`
	Severity       string            `yaml:"severity"`
	Description    string            `yaml:"description"`
	Details        map[string]string `yaml:"details"`
}

type amWebhook struct {
	SendResolved bool   `yaml:"send_resolved"`
	URL          string `yaml:"url"`
}

type amSlack struct {
	SendResolved bool   `yaml:"send_resolved"`
	APIURLFile   string `yaml:"api_url_file"`
	Channel      string `yaml:"channel"`
	Title        string `yaml:"title"`
	TitleLink    string `yaml:"title_link"`
	Text         string `yaml:"text"`
}

// Notification templates. A group holds one alert name in one town (or one
// replica, or one job), so its common labels name them; the alerts that
// name no town leave it out.
const (
	amSubject     = `[{{ .Status | toUpper }}] {{ .CommonLabels.alertname }}{{ with .CommonLabels.town }} town {{ . }}{{ end }}: {{ .CommonAnnotations.summary }}`
	amSlackTitle  = `[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .CommonLabels.alertname }}{{ with .CommonLabels.town }} town {{ . }}{{ end }}`
	amSlackText   = `{{ range .Alerts }}{{ .Annotations.description }}{{ "\n" }}{{ end }}`
	amRunbookLink = `{{ .CommonAnnotations.runbook_url }}`
)

// AlertmanagerConfig returns alertmanager.yml: severity=page goes to
// PagerDuty, everything else to the warnings receiver (webhook and Slack);
// groups are one alert name in one town (or replica, or job); a page for a
// town's worse state holds back its milder one, TickwatchDown holds back
// the TickwatchShardMissing it causes, and the fleet's alerts the towns'.
func AlertmanagerConfig(o AlertmanagerOptions) ([]byte, error) {
	if o.PagerDutyRoutingKeyFile == "" {
		return nil, errors.New("alertmanager config: a PagerDuty routing key file is required")
	}
	if o.WebhookURL == "" {
		return nil, errors.New("alertmanager config: a webhook URL is required")
	}
	warnings := amReceiver{
		Name:           ReceiverWarnings,
		WebhookConfigs: []amWebhook{{SendResolved: true, URL: o.WebhookURL}},
	}
	if o.SlackAPIURLFile != "" {
		warnings.SlackConfigs = []amSlack{{
			SendResolved: true,
			APIURLFile:   o.SlackAPIURLFile,
			Channel:      o.SlackChannel,
			Title:        amSlackTitle,
			TitleLink:    amRunbookLink,
			Text:         amSlackText,
		}}
	}
	cfg := amConfig{
		Route: amRoute{
			Receiver: ReceiverWarnings,
			// A town's alerts carry job and town, a replica's job and
			// instance, a fleet's job: each is a group of its own, so a
			// notification's common annotations are its alert's.
			GroupBy:        []string{"alertname", "job", "instance", "town"},
			GroupWait:      model.Duration(o.GroupWait),
			GroupInterval:  model.Duration(o.GroupInterval),
			RepeatInterval: model.Duration(o.RepeatInterval),
			Routes: []amRoute{
				{Receiver: ReceiverPagerDuty, Matchers: []string{fmt.Sprintf("severity=%q", SeverityPage)}, RepeatInterval: model.Duration(o.PageRepeat)},
				{Receiver: ReceiverWarnings, Matchers: []string{fmt.Sprintf("severity=%q", SeverityWarning)}},
			},
		},
		InhibitRules: []amInhibit{
			{
				// A replica that is down is a missing shard too: page once.
				// Per-town alerts carry no replica (they aggregate it away so
				// that a resize does not end and restart them), so a down
				// replica cannot hold back its own towns' alerts; its towns'
				// series are gone and their alerts end after keep_firing_for.
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertTickwatchDown)},
				TargetMatchers: []string{fmt.Sprintf("alertname=%q", AlertTickwatchShardMissing)},
				Equal:          []string{"job"},
			},
			{
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerQueueDepthCritical)},
				TargetMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerQueueDepthHigh)},
				Equal:          []string{"job", "town"},
			},
			{
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerStale)},
				TargetMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerTownDown)},
				Equal:          []string{"job", "town"},
			},
			{
				// A town that is down fails its dry run too: one alert says it.
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerTownDown)},
				TargetMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerDryRunFailing)},
				Equal:          []string{"job", "town"},
			},
			{
				// Most of a job's towns down is one page, not one per town.
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertTickwatchTownsDown)},
				TargetMatchers: []string{fmt.Sprintf("alertname=~%q", strings.Join([]string{
					AlertReconcilerTownDown, AlertReconcilerStale, AlertReconcilerDryRunFailing, AlertTickwatchDryRunsFailing}, "|"))},
				Equal: []string{"job"},
			},
			{
				SourceMatchers: []string{fmt.Sprintf("alertname=%q", AlertTickwatchDryRunsFailing)},
				TargetMatchers: []string{fmt.Sprintf("alertname=%q", AlertReconcilerDryRunFailing)},
				Equal:          []string{"job"},
			},
		},
		Receivers: []amReceiver{
			{
				Name: ReceiverPagerDuty,
				PagerDutyConfigs: []amPagerDuty{{
					SendResolved:   true,
					RoutingKeyFile: o.PagerDutyRoutingKeyFile,
					URL:            o.PagerDutyURL,
					Severity:       "critical",
					Description:    amSubject,
					Details: map[string]string{
						"job":         `{{ .CommonLabels.job }}`,
						"instance":    `{{ .CommonLabels.instance }}`,
						"town":        `{{ .CommonLabels.town }}`,
						"summary":     `{{ .CommonAnnotations.summary }}`,
						"description": `{{ .CommonAnnotations.description }}`,
						"runbook_url": amRunbookLink,
						"num_firing":  `{{ .Alerts.Firing | len }}`,
					},
				}},
			},
			warnings,
		},
	}
	b, err := marshal(amHeader, cfg)
	if err != nil {
		return nil, fmt.Errorf("alertmanager config: %w", err)
	}
	return b, nil
}
