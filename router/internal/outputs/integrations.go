package outputs

import (
	"github.com/harrier-security/harrier/router/internal/config"
	"github.com/harrier-security/harrier/router/internal/output"
	"github.com/harrier-security/harrier/router/internal/output/alertmanager"
	"github.com/harrier-security/harrier/router/internal/output/loki"
	"github.com/harrier-security/harrier/router/internal/output/otlp"
	"github.com/harrier-security/harrier/router/internal/output/pagerduty"
	"github.com/harrier-security/harrier/router/internal/output/s3"
	"github.com/harrier-security/harrier/router/internal/output/slack"
	"github.com/harrier-security/harrier/router/internal/output/splunk"
	"github.com/harrier-security/harrier/router/internal/output/syslog"
)

// buildIntegration constructs the alerting, chat, log and storage outputs
// (issue 18); ok is false for other kinds.
func buildIntegration(c config.Output) (o output.Output, ok bool, err error) {
	tpl, err := Template(c) // the human message of chat, incident and syslog text outputs
	if err != nil {
		return nil, true, err
	}
	switch s := c.Settings.(type) {
	case config.Alertmanager:
		o, err = built(alertmanager.New(alertmanager.Config{
			Name: s.Name, HostPort: s.HostPort, Endpoint: s.Endpoint, ExpiresAfter: s.ExpiresAfter,
			ExtraLabels: s.ExtraLabels, ExtraAnnotations: s.ExtraAnnotations, SeverityMap: s.SeverityMap,
			LabelFields: s.LabelFields, CustomHeaders: s.CustomHeaders, Timeout: s.Timeout, TLS: s.TLS,
		}))
	case config.Syslog:
		o, err = built(syslog.New(syslog.Config{
			Name: s.Name, Host: s.Host, Port: s.Port, Protocol: s.Protocol, Format: s.Format,
			Facility: s.Facility, AppName: s.AppName, Timeout: s.Timeout, TLS: s.TLS, Template: tpl,
		}))
	case config.Chat:
		o, err = built(slack.New(slack.Config{
			Name: s.Name, WebhookURL: s.WebhookURL, Flavour: s.Flavour, Format: s.Format, Channel: s.Channel,
			Username: s.Username, Icon: s.Icon, Footer: s.Footer, Timeout: s.Timeout, TLS: s.TLS, Template: tpl,
		}))
	case config.Loki:
		o, err = built(loki.New(loki.Config{
			Name: s.Name, HostPort: s.HostPort, Endpoint: s.Endpoint, Tenant: s.Tenant, User: s.User, APIKey: s.APIKey,
			LabelFields: s.LabelFields, Format: s.Format, CustomHeaders: s.CustomHeaders, Timeout: s.Timeout, TLS: s.TLS,
		}))
	case config.Splunk:
		o, err = built(splunk.New(splunk.Config{
			Name: s.Name, HostPort: s.HostPort, Endpoint: s.Endpoint, Token: s.Token, Index: s.Index, Source: s.Source,
			SourceType: s.SourceType, Channel: s.Channel, CustomHeaders: s.CustomHeaders, Timeout: s.Timeout, TLS: s.TLS,
		}))
	case config.PagerDuty:
		o, err = built(pagerduty.New(pagerduty.Config{
			Name: s.Name, RoutingKey: s.RoutingKey, Region: s.Region, URL: s.URL, Timeout: s.Timeout, TLS: s.TLS, Template: tpl,
		}))
	case config.OTLP:
		o, err = built(otlp.New(otlp.Config{
			Name: s.Name, Endpoint: s.Endpoint, Protocol: s.Protocol, Insecure: s.Insecure, Headers: s.Headers,
			ServiceName: s.ServiceName, Timeout: s.Timeout, TLS: s.TLS,
		}))
	case config.S3:
		o, err = built(s3.New(s3.Config{
			Name: s.Name, Bucket: s.Bucket, Prefix: s.Prefix, Endpoint: s.Endpoint, Region: s.Region, PathStyle: s.PathStyle,
			AccessKeyID: s.AccessKeyID, SecretAccessKey: s.SecretAccessKey, SessionToken: s.SessionToken, Gzip: s.Gzip,
			Timeout: s.Timeout, TLS: s.TLS,
		}))
	default:
		return nil, false, nil
	}
	return o, true, err
}
