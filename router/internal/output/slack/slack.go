// Package slack posts one chat message per alert to an incoming webhook:
// Slack's, or in the shape of Mattermost (Slack-compatible attachments),
// Microsoft Teams (an Adaptive Card, as Teams workflows' webhooks take) or
// Google Chat (a text message). The text comes from package message.
package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	harrierv1 "github.com/harrier-security/harrier/proto/harrier/v1"
	"github.com/harrier-security/harrier/router/internal/msgtemplate"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/httpout"
	"github.com/harrier-security/harrier/router/internal/output/message"
	"github.com/harrier-security/harrier/router/internal/tlsconfig"
)

// Flavours of webhook.
const (
	Slack      = "slack"
	Mattermost = "mattermost"
	Teams      = "teams"
	GoogleChat = "googlechat"
)

// Output formats (falcosidekick's outputformat).
const (
	FormatAll    = "all"    // text and fields
	FormatText   = "text"   // the text only
	FormatFields = "fields" // the fields only
)

// Config of one chat webhook.
type Config struct {
	Name       string
	WebhookURL string // carries the secret: never logged
	Flavour    string // Slack (default), Mattermost, Teams or GoogleChat
	Format     string // FormatAll (default), FormatText or FormatFields
	Channel    string // Slack/Mattermost: override the webhook's channel
	Username   string // Slack/Mattermost
	Icon       string // Slack/Mattermost: an image URL or an :emoji:
	Footer     string // Slack/Mattermost
	// Template, when set, renders the message text instead of the
	// default (package message).
	Template *msgtemplate.Template
	Timeout  time.Duration
	TLS      tlsconfig.Client
}

// Validate checks c without side effects.
func (c *Config) Validate() error {
	if err := httpout.ValidURL(c.WebhookURL); err != nil {
		return fmt.Errorf("webhookurl: %w", err)
	}
	switch c.Flavour {
	case "", Slack, Mattermost, Teams, GoogleChat:
	default:
		return fmt.Errorf("flavour %q: want slack, mattermost, teams or googlechat", c.Flavour)
	}
	switch c.Format {
	case "", FormatAll, FormatText, FormatFields:
	default:
		return fmt.Errorf("outputformat %q: want all, text or fields", c.Format)
	}
	return nil
}

// Output is a chat webhook.
type Output struct {
	cfg    Config
	client *httpout.Client
}

// New builds a chat webhook output.
func New(cfg Config) (*Output, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.Flavour == "" {
		cfg.Flavour = Slack
	}
	if cfg.Format == "" {
		cfg.Format = FormatAll
	}
	c, err := httpout.New(cfg.Name, cfg.Timeout, cfg.TLS)
	if err != nil {
		return nil, err
	}
	// The webhook URL is the credential; peers sometimes echo it.
	c.Secrets = []string{cfg.WebhookURL}
	if i := strings.LastIndex(cfg.WebhookURL, "/"); i > 0 && len(cfg.WebhookURL)-i > 8 {
		c.Secrets = append(c.Secrets, cfg.WebhookURL[i+1:])
	}
	return &Output{cfg: cfg, client: c}, nil
}

// Name implements output.Output.
func (o *Output) Name() string { return o.cfg.Name }

// Close implements output.Output.
func (o *Output) Close() error { o.client.Close(); return nil }

// Deliver implements output.Output.
func (o *Output) Deliver(ctx context.Context, alerts []*harrierv1.Alert) error {
	return httpout.EachAlert(ctx, alerts, func(ctx context.Context, a *harrierv1.Alert) error {
		p, err := o.Payload(a)
		if err != nil {
			return output.Permanent(fmt.Errorf("%s: %w", o.cfg.Name, err))
		}
		body, err := json.Marshal(p)
		if err != nil {
			return output.Permanent(err)
		}
		_, err = o.client.Do(ctx, http.MethodPost, o.cfg.WebhookURL, body, map[string]string{"Content-Type": "application/json"})
		return err
	})
}

// Color is the attachment colour of a priority.
func Color(p harrierv1.Priority) string {
	switch {
	case p.AtLeast(harrierv1.Priority_PRIORITY_CRITICAL):
		return "#e01e5a"
	case p.AtLeast(harrierv1.Priority_PRIORITY_ERROR):
		return "#ff5400"
	case p.AtLeast(harrierv1.Priority_PRIORITY_WARNING):
		return "#f3c744"
	case p.AtLeast(harrierv1.Priority_PRIORITY_NOTICE):
		return "#5bb5e6"
	}
	return "#9e9e9e"
}

// Payload is the JSON body for a, in the configured flavour.
func (o *Output) Payload(a *harrierv1.Alert) (any, error) {
	text := message.Text(a)
	if o.cfg.Template != nil {
		var err error
		if text, err = o.cfg.Template.Render(a); err != nil {
			return nil, err
		}
	}
	switch o.cfg.Flavour {
	case Teams:
		return o.teams(a, text), nil
	case GoogleChat:
		return o.googleChat(a, text), nil
	}
	return o.slack(a, text), nil
}

type slackField struct {
	Title string `json:"title"`
	Value string `json:"value"`
	Short bool   `json:"short"`
}

type slackAttachment struct {
	Fallback string       `json:"fallback"`
	Color    string       `json:"color"`
	Title    string       `json:"title,omitempty"`
	Text     string       `json:"text,omitempty"`
	Fields   []slackField `json:"fields,omitempty"`
	Footer   string       `json:"footer,omitempty"`
	Ts       int64        `json:"ts,omitempty"`
}

type slackMessage struct {
	Text        string            `json:"text,omitempty"`
	Channel     string            `json:"channel,omitempty"`
	Username    string            `json:"username,omitempty"`
	IconURL     string            `json:"icon_url,omitempty"`
	IconEmoji   string            `json:"icon_emoji,omitempty"`
	Attachments []slackAttachment `json:"attachments"`
}

func (o *Output) slack(a *harrierv1.Alert, text string) slackMessage {
	m := slackMessage{Channel: o.cfg.Channel, Username: o.cfg.Username}
	if strings.HasPrefix(o.cfg.Icon, ":") {
		m.IconEmoji = o.cfg.Icon
	} else {
		m.IconURL = o.cfg.Icon
	}
	at := slackAttachment{Fallback: text, Color: Color(a.GetPriority()), Title: message.Title(a), Footer: o.cfg.Footer}
	if t := a.GetTime(); t != nil {
		at.Ts = t.AsTime().Unix()
	}
	if o.cfg.Format != FormatFields {
		at.Text = text
		m.Text = message.Title(a)
	}
	if o.cfg.Format != FormatText {
		for _, f := range message.Fields(a) {
			at.Fields = append(at.Fields, slackField{Title: f.Name, Value: f.Value, Short: len(f.Value) < 36})
		}
	}
	m.Attachments = []slackAttachment{at}
	return m
}

func (o *Output) teams(a *harrierv1.Alert, text string) any {
	body := []any{map[string]any{"type": "TextBlock", "text": message.Title(a), "weight": "Bolder", "size": "Medium", "wrap": true,
		"color": teamsColor(a.GetPriority())}}
	if o.cfg.Format != FormatFields {
		body = append(body, map[string]any{"type": "TextBlock", "text": text, "wrap": true})
	}
	if o.cfg.Format != FormatText {
		var facts []map[string]string
		for _, f := range message.Fields(a) {
			facts = append(facts, map[string]string{"title": f.Name, "value": f.Value})
		}
		body = append(body, map[string]any{"type": "FactSet", "facts": facts})
	}
	return map[string]any{
		"type": "message",
		"attachments": []any{map[string]any{
			"contentType": "application/vnd.microsoft.card.adaptive",
			"content": map[string]any{
				"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
				"type":    "AdaptiveCard", "version": "1.4", "body": body,
			},
		}},
	}
}

func teamsColor(p harrierv1.Priority) string {
	switch {
	case p.AtLeast(harrierv1.Priority_PRIORITY_ERROR):
		return "Attention"
	case p.AtLeast(harrierv1.Priority_PRIORITY_WARNING):
		return "Warning"
	}
	return "Default"
}

func (o *Output) googleChat(a *harrierv1.Alert, text string) any {
	var b strings.Builder
	b.WriteString("*" + message.Title(a) + "*")
	if o.cfg.Format != FormatFields {
		b.WriteString("\n" + text)
	}
	if o.cfg.Format != FormatText {
		for _, f := range message.Fields(a) {
			fmt.Fprintf(&b, "\n%s: `%s`", f.Name, f.Value)
		}
	}
	return map[string]string{"text": b.String()}
}
