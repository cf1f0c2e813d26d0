// Command metrics-server: upstream's main around
// sigs.k8s.io/metrics-server/cmd/metrics-server/app, in a module of ours so
// that its dependencies can be pinned to the Kubernetes module's versions.
package main

import (
	"os"

	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/component-base/logs"

	"sigs.k8s.io/metrics-server/cmd/metrics-server/app"
)

func main() {
	logs.InitLogs()
	defer logs.FlushLogs()
	if err := app.NewMetricsServerCommand(genericapiserver.SetupSignalHandler()).Execute(); err != nil {
		logs.FlushLogs()
		os.Exit(1)
	}
}
