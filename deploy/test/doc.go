// Package deploytest checks Harrier's packaging offline: the Helm chart
// renders into manifests that decode strictly into the Kubernetes API
// types, the docker-compose lab loads with the compose-spec loader and
// refers only to files in the repository, and the Kibana saved objects
// are self-consistent and use the fields the router indexes.
//
// It is a module of its own, outside go.work, so that its heavy
// dependencies (k8s.io/api, client-go, compose-go) never enter the
// sensor's or the router's build.
package deploytest
