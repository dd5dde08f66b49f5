// Offline checks of the Helm chart at deploy/helm/product-categorizer (run by
// scripts/check-helm; no cluster, no Docker daemon).
//
// For every values file in cases/ the chart is rendered with the Helm v4 SDK
// (what `helm template` does: the same packages, without its Kubernetes client), every document is decoded strictly (unknown or
// duplicate fields fail) into the k8s.io/api and prometheus-operator types,
// KEDA objects are validated against the CRDs the KEDA v2.21.0 module ships,
// the pod is evaluated against Pod Security Standards "restricted", and each
// rule of issue 19 is asserted. Every values file in cases/fail/ must fail to
// render with the message its first line names. `helm lint --strict` runs on
// the chart too.
//
// Environment (set by scripts/check-helm):
//
//	CHECK_HELM_WORKER_BINARY   the worker binary: env names from its --help
//	                           (else docs/CONTRACTS.md's list)
//	CHECK_HELM_LIBRDKAFKA_CONF librdkafka's CONFIGURATION.md: KAFKA_* names
//	                           must be properties (else not checked)
//	CHECK_HELM_KEDA_DIR        the kedacore/keda/v2 module directory
//	CHECK_HELM_OUT             where to write the rendered manifests and the
//	                           PrometheusRule's groups (for kubernetes-validate
//	                           and promtool)
package chart_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"helm.sh/helm/v4/pkg/chart/common"
	commonutil "helm.sh/helm/v4/pkg/chart/common/util"
	chart "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	chartutil "helm.sh/helm/v4/pkg/chart/v2/util"
	"helm.sh/helm/v4/pkg/engine"
	releaseutil "helm.sh/helm/v4/pkg/release/v1/util"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	psapi "k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"
)

const (
	chartDir    = "../product-categorizer"
	repoRoot    = "../../.."
	jobName     = "product-categorizer" // the job the alerts and the dashboard query
	secretDir   = "/var/run/secrets/product-categorizer/kafka"
	kubeVersion = "v1.37.0"
)

// ---------------------------------------------------------------- render --

func loadValues(t *testing.T, path string) map[string]any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]any{}
	if err := yaml.Unmarshal(b, &vals); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return vals
}

var (
	chartOnce sync.Once
	theChart  *chart.Chart
	chartErr  error
)

func loadChart(t *testing.T) *chart.Chart {
	t.Helper()
	chartOnce.Do(func() { theChart, chartErr = loader.Load(chartDir) })
	if chartErr != nil {
		t.Fatalf("loading the chart: %v", chartErr)
	}
	return theChart
}

// render does what `helm template` does (action.Install, client-only dry
// run), from the packages it uses, without Helm's Kubernetes client and
// registry code (half the build): the kubeVersion constraint, the values
// coalesced and validated against values.schema.json, the engine, then the
// manifests split from hooks and sorted in install order.
func render(t *testing.T, vals map[string]any) (string, error) {
	t.Helper()
	ch := loadChart(t)
	caps := common.DefaultCapabilities.Copy()
	kv, err := common.ParseKubeVersion(kubeVersion)
	if err != nil {
		t.Fatal(err)
	}
	caps.KubeVersion = *kv
	if ch.Metadata.KubeVersion != "" && !chartutil.IsCompatibleRange(ch.Metadata.KubeVersion, caps.KubeVersion.String()) {
		return "", fmt.Errorf("chart requires kubeVersion: %s which is incompatible with Kubernetes %s", ch.Metadata.KubeVersion, caps.KubeVersion.Version)
	}
	opts := common.ReleaseOptions{Name: "shop", Namespace: "erp", Revision: 1, IsInstall: true}
	rv, err := commonutil.ToRenderValuesWithSchemaValidation(ch, vals, opts, caps, false)
	if err != nil {
		return "", err
	}
	var e engine.Engine
	files, err := e.Render(ch, rv)
	if err != nil {
		return "", err
	}
	for name := range files {
		if strings.HasSuffix(name, "NOTES.txt") {
			delete(files, name)
		}
	}
	hooks, manifests, err := releaseutil.SortManifests(files, caps.APIVersions, releaseutil.InstallOrder)
	if err != nil {
		return "", err
	}
	if len(hooks) > 0 {
		t.Errorf("the chart renders hooks (%d); it has none by design", len(hooks))
	}
	var b strings.Builder
	for _, m := range manifests {
		fmt.Fprintf(&b, "---\n# Source: %s\n%s\n", m.Name, m.Content)
	}
	return b.String(), nil
}

// ---------------------------------------------------------------- decode --

var (
	scheme = runtime.NewScheme()
	strict runtime.Decoder
)

func init() {
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		panic(err)
	}
	if err := monitoringv1.AddToScheme(scheme); err != nil {
		panic(err)
	}
	strict = serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}

type doc struct {
	raw  []byte         // the document as YAML
	u    map[string]any // as JSON values
	kind string
	name string
	obj  runtime.Object // typed, for built-in and prometheus-operator kinds
}

func splitDocs(t *testing.T, manifest string) []doc {
	t.Helper()
	var docs []doc
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(manifest)))
	for {
		b, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading the manifest: %v", err)
		}
		if len(bytes.TrimSpace(stripComments(b))) == 0 {
			continue
		}
		var u map[string]any
		if err := yaml.UnmarshalStrict(b, &u); err != nil {
			t.Fatalf("a rendered document is not valid YAML (or has a duplicate key): %v\n%s", err, b)
		}
		d := doc{raw: b, u: u}
		d.kind, _ = u["kind"].(string)
		if md, ok := u["metadata"].(map[string]any); ok {
			d.name, _ = md["name"].(string)
		}
		docs = append(docs, d)
	}
	return docs
}

func stripComments(b []byte) []byte {
	var out []byte
	for _, line := range bytes.Split(b, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			out = append(out, line...)
			out = append(out, '\n')
		}
	}
	return out
}

// ------------------------------------------------------------------ KEDA --

type crdValidator struct {
	validator  validation.SchemaValidator
	structural *structuralschema.Structural
}

var (
	kedaOnce       sync.Once
	kedaCRDs       map[string]crdValidator // kind -> validator of its served version
	kedaErr        error
	kedaMetaKeys   map[string]bool // the Kafka scaler's trigger metadata names
	kedaAuthParams map[string]bool // and its auth parameters
)

func kedaDir(t *testing.T) string {
	dir := os.Getenv("CHECK_HELM_KEDA_DIR")
	if dir == "" {
		t.Fatal("CHECK_HELM_KEDA_DIR is not set (scripts/check-helm sets it: `go mod download -json github.com/kedacore/keda/v2@v2.21.0`)")
	}
	return dir
}

func loadKeda(t *testing.T) {
	t.Helper()
	kedaOnce.Do(func() {
		dir := kedaDir(t)
		kedaCRDs = map[string]crdValidator{}
		for _, f := range []string{"keda.sh_scaledobjects.yaml", "keda.sh_triggerauthentications.yaml"} {
			b, err := os.ReadFile(filepath.Join(dir, "config", "crd", "bases", f))
			if err != nil {
				kedaErr = err
				return
			}
			var crd apiextv1.CustomResourceDefinition
			if err := yaml.Unmarshal(b, &crd); err != nil {
				kedaErr = fmt.Errorf("%s: %w", f, err)
				return
			}
			for _, v := range crd.Spec.Versions {
				if v.Name != "v1alpha1" || v.Schema == nil {
					continue
				}
				var internal apiextensions.JSONSchemaProps
				if err := apiextv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(v.Schema.OpenAPIV3Schema, &internal, nil); err != nil {
					kedaErr = err
					return
				}
				val, _, err := validation.NewSchemaValidator(&internal)
				if err != nil {
					kedaErr = err
					return
				}
				st, err := structuralschema.NewStructural(&internal)
				if err != nil {
					kedaErr = err
					return
				}
				kedaCRDs[crd.Spec.Names.Kind] = crdValidator{val, st}
			}
		}
		src, err := os.ReadFile(filepath.Join(dir, "pkg", "scalers", "kafka_scaler.go"))
		if err != nil {
			kedaErr = err
			return
		}
		kedaMetaKeys, kedaAuthParams = map[string]bool{}, map[string]bool{}
		for _, m := range regexp.MustCompile(`keda:"name=([A-Za-z]+),order=([A-Za-z;]+)`).FindAllStringSubmatch(string(src), -1) {
			for _, o := range strings.Split(m[2], ";") {
				switch o {
				case "triggerMetadata":
					kedaMetaKeys[m[1]] = true
				case "authParams":
					kedaAuthParams[m[1]] = true
				}
			}
		}
		if len(kedaMetaKeys) < 10 || len(kedaAuthParams) < 5 {
			kedaErr = fmt.Errorf("could not read the Kafka scaler's parameters from kafka_scaler.go (%d, %d)", len(kedaMetaKeys), len(kedaAuthParams))
		}
	})
	if kedaErr != nil {
		t.Fatalf("KEDA CRDs: %v", kedaErr)
	}
}

func validateKeda(t *testing.T, d doc) {
	t.Helper()
	loadKeda(t)
	v, ok := kedaCRDs[d.kind]
	if !ok {
		t.Errorf("%s/%s: no KEDA CRD schema for this kind", d.kind, d.name)
		return
	}
	if errs := validation.ValidateCustomResource(nil, d.u, v.validator); len(errs) > 0 {
		t.Errorf("%s/%s does not validate against KEDA v2.21.0's CRD: %v", d.kind, d.name, errs.ToAggregate())
	}
	// Unknown fields: what the API server would prune (or refuse under
	// fieldValidation=Strict), on a copy.
	var cp map[string]any
	b, _ := json.Marshal(d.u)
	_ = json.Unmarshal(b, &cp)
	unknown := pruning.PruneWithOptions(cp, v.structural, true, structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	if len(unknown) > 0 {
		t.Errorf("%s/%s has fields KEDA's CRD does not know: %v", d.kind, d.name, unknown)
	}
}

// -------------------------------------------------------------- env names --

var (
	envOnce     sync.Once
	envNames    map[string]bool
	envSource   string
	rdkProps    map[string]bool
	envLoadErr  error
	dockerUID   int
	dockerModel string
)

func loadEnvNames(t *testing.T) {
	t.Helper()
	envOnce.Do(func() {
		envNames = map[string]bool{}
		if bin := os.Getenv("CHECK_HELM_WORKER_BINARY"); bin != "" {
			out, err := exec.Command(bin, "--help").Output()
			if err != nil {
				envLoadErr = fmt.Errorf("%s --help: %w", bin, err)
				return
			}
			for _, m := range regexp.MustCompile(`\[env: ([A-Z][A-Z0-9_]*)=`).FindAllStringSubmatch(string(out), -1) {
				envNames[m[1]] = true
			}
			envSource = bin + " --help"
		} else {
			b, err := os.ReadFile(filepath.Join(repoRoot, "docs", "CONTRACTS.md"))
			if err != nil {
				envLoadErr = err
				return
			}
			sec := regexp.MustCompile(`(?ms)^## Worker configuration.*?$(.*?)^## `).FindSubmatch(b)
			if sec == nil {
				envLoadErr = errors.New("docs/CONTRACTS.md has no '## Worker configuration' section")
				return
			}
			for _, m := range regexp.MustCompile(`\b([A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+|[A-Z]{4,})\b`).FindAllSubmatch(sec[1], -1) {
				envNames[string(m[1])] = true
			}
			envSource = "docs/CONTRACTS.md (no worker binary given)"
		}
		if len(envNames) < 10 {
			envLoadErr = fmt.Errorf("only %d env names found in %s", len(envNames), envSource)
			return
		}
		if conf := os.Getenv("CHECK_HELM_LIBRDKAFKA_CONF"); conf != "" {
			f, err := os.Open(conf)
			if err != nil {
				envLoadErr = err
				return
			}
			defer f.Close()
			rdkProps = map[string]bool{}
			re := regexp.MustCompile(`^([a-z][a-z0-9_.]*)\s+\|`)
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				if m := re.FindStringSubmatch(sc.Text()); m != nil {
					rdkProps[m[1]] = true
				}
			}
		}
		// The Dockerfile's uid and model path: the chart must match them.
		b, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
		if err != nil {
			envLoadErr = err
			return
		}
		users := regexp.MustCompile(`(?m)^USER\s+([0-9]+)(?::[0-9]+)?\s*$`).FindAllSubmatch(b, -1)
		if len(users) == 0 {
			envLoadErr = errors.New("Dockerfile: no numeric `USER uid[:gid]` (the kubelet can only verify runAsNonRoot on a numeric user)")
			return
		}
		dockerUID, _ = strconv.Atoi(string(users[len(users)-1][1]))
		if m := regexp.MustCompile(`(?m)^\s*MODEL_PATH=(\S+)`).FindSubmatch(b); m != nil {
			dockerModel = string(m[1])
		}
	})
	if envLoadErr != nil {
		t.Fatal(envLoadErr)
	}
}

// checkEnvName: the worker reads it (scripts/check-compose's rule).
func checkEnvName(name string) string {
	switch {
	case envNames[name], strings.HasPrefix(name, "OTEL_"), name == "RUST_LOG":
		return ""
	case strings.HasPrefix(name, "KAFKA_"):
		prop := strings.ReplaceAll(strings.ToLower(strings.TrimPrefix(name, "KAFKA_")), "_", ".")
		if rdkProps == nil || rdkProps[prop] || (strings.HasSuffix(prop, ".file") && rdkProps[strings.TrimSuffix(prop, ".file")]) {
			return ""
		}
		return fmt.Sprintf("%s -> librdkafka property %q, which librdkafka does not have", name, prop)
	}
	return fmt.Sprintf("%s is not read by the worker (not in %s, nor OTEL_*/RUST_LOG/KAFKA_<property>)", name, envSource)
}

// ----------------------------------------------------------------- cases --

func TestRenderMatrix(t *testing.T) {
	files, _ := filepath.Glob("cases/*.yaml")
	if len(files) < 4 {
		t.Fatalf("expected the values matrix in cases/*.yaml, found %d files", len(files))
	}
	outDir := os.Getenv("CHECK_HELM_OUT")
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		t.Run(name, func(t *testing.T) {
			vals := loadValues(t, f)
			manifest, err := render(t, vals)
			if err != nil {
				t.Fatalf("render failed: %v", err)
			}
			docs := splitDocs(t, manifest)
			if outDir != "" {
				writeOut(t, outDir, name, docs)
			}
			checkAll(t, vals, docs)
		})
	}
}

func writeOut(t *testing.T, outDir, name string, docs []doc) {
	t.Helper()
	dir := filepath.Join(outDir, name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for i, d := range docs {
		// Custom resources apart: kubernetes-validate knows only built-in kinds
		// (they are checked here, against their CRDs and Go types).
		prefix := ""
		if av, _ := d.u["apiVersion"].(string); strings.HasPrefix(av, "keda.sh/") || strings.HasPrefix(av, "monitoring.coreos.com/") {
			prefix = "crd-"
		}
		f := filepath.Join(dir, fmt.Sprintf("%s%02d-%s-%s.yaml", prefix, i, strings.ToLower(d.kind), d.name))
		if err := os.WriteFile(f, d.raw, 0o644); err != nil {
			t.Fatal(err)
		}
		if d.kind == "PrometheusRule" {
			spec, _ := d.u["spec"].(map[string]any)
			b, err := yaml.Marshal(map[string]any{"groups": spec["groups"]})
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(filepath.Join(dir, "prometheusrule-groups.yml"), b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// TestRefused: each file in cases/fail/ must fail to render, with the text
// its first line gives (`# error: <text>`).
func TestRefused(t *testing.T) {
	files, _ := filepath.Glob("cases/fail/*.yaml")
	if len(files) < 5 {
		t.Fatalf("expected the refused values in cases/fail/*.yaml, found %d", len(files))
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			b, _ := os.ReadFile(f)
			first, _, _ := strings.Cut(string(b), "\n")
			want, ok := strings.CutPrefix(first, "# error: ")
			if !ok {
				t.Fatalf("%s: the first line must be `# error: <expected text>`", f)
			}
			_, err := render(t, loadValues(t, f))
			if err == nil {
				t.Fatalf("rendered, but must fail with %q", want)
			}
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("failed, but not with %q:\n%v", want, err)
			}
			t.Logf("refused: %v", err)
		})
	}
}

func TestLintStrict(t *testing.T) {
	// helm lint --strict: what action.Lint runs, failing on warnings too.
	kv, _ := common.ParseKubeVersion(kubeVersion)
	linter := lint.RunAll(chartDir, loadValues(t, "cases/minimal.yaml"), "erp", lint.WithKubeVersion(kv))
	var errs []string
	for _, m := range linter.Messages {
		t.Logf("lint: %s", m)
		if m.Severity >= support.WarningSev {
			errs = append(errs, m.Error())
		}
	}
	if len(errs) > 0 {
		t.Fatalf("helm lint --strict: %v", errs)
	}
}

// The chart's copies of the monitoring files are deploy/'s, byte for byte.
func TestFilesMatchDeploy(t *testing.T) {
	for chartFile, deployFile := range map[string]string{
		"files/alerts.yml": "deploy/prometheus/alerts.yml",
		"files/dashboards/product-categorizer.json": "deploy/grafana/dashboards/product-categorizer.json",
	} {
		a, err := os.ReadFile(filepath.Join(chartDir, chartFile))
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(repoRoot, deployFile))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(a, b) {
			t.Errorf("deploy/helm/product-categorizer/%s differs from %s: cp %s deploy/helm/product-categorizer/%s", chartFile, deployFile, deployFile, chartFile)
		}
	}
	// The defaults match the image.
	loadEnvNames(t)
	vals := loadChart(t).Values
	ps := vals["podSecurity"].(map[string]any)
	if uid := toInt(ps["runAsUser"]); uid != dockerUID {
		t.Errorf("values podSecurity.runAsUser %d != the Dockerfile's USER %d", uid, dockerUID)
	}
	if a := loadChart(t).Metadata.Annotations["product-categorizer/image-uid"]; a != strconv.Itoa(dockerUID) {
		t.Errorf("Chart.yaml annotation product-categorizer/image-uid %q != the Dockerfile's USER %d", a, dockerUID)
	}
	// model.source=url runs curl and sha256sum from the worker's image.
	df, _ := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	runtimeStage := string(df[bytes.LastIndex(df, []byte("\nFROM ")):])
	if !regexp.MustCompile(`apt-get install[^\n]*\bcurl\b`).MatchString(runtimeStage) {
		t.Errorf("the Dockerfile's runtime stage does not install curl: the fetch-model init container (model.source=url) needs it")
	}
	// The image builds for amd64 and arm64: one ONNX Runtime wheel per
	// TARGETARCH, each pinned by a sha256, of the version ml/ trains and tests with.
	for _, arch := range []string{"AMD64", "ARM64"} {
		if !regexp.MustCompile(`(?m)^ARG ORT_WHEEL_SHA256_` + arch + `=[a-f0-9]{64}$`).Match(df) {
			t.Errorf("Dockerfile: no ARG ORT_WHEEL_SHA256_%s=<sha256> (the %s wheel must be pinned by hash)", arch, strings.ToLower(arch))
		}
		if !regexp.MustCompile(`(?m)^\s+` + strings.ToLower(arch) + `\) wheel="\$\{ORT_WHEEL_` + arch + `\}"; sha="\$\{ORT_WHEEL_SHA256_` + arch + `\}"`).Match(df) {
			t.Errorf("Dockerfile: TARGETARCH %s does not pick ORT_WHEEL_%s / ORT_WHEEL_SHA256_%s", strings.ToLower(arch), arch, arch)
		}
	}
	reqs, _ := os.ReadFile(filepath.Join(repoRoot, "ml", "requirements.txt"))
	if m := regexp.MustCompile(`(?m)^onnxruntime==([0-9.]+)`).FindSubmatch(reqs); m == nil {
		t.Errorf("ml/requirements.txt pins no onnxruntime version")
	} else {
		for _, re := range []string{`(?m)^ARG ORT_VERSION=(\S+)$`, `(?m)^ARG ORT_WHEEL_AMD64=onnxruntime-([0-9.]+)-`, `(?m)^ARG ORT_WHEEL_ARM64=onnxruntime-([0-9.]+)-`} {
			for _, got := range regexp.MustCompile(re).FindAllSubmatch(df, -1) {
				if string(got[1]) != string(m[1]) {
					t.Errorf("Dockerfile: %s has ONNX Runtime %s, ml/requirements.txt %s", got[0], got[1], m[1])
				}
			}
		}
	}
	if mp := vals["model"].(map[string]any)["path"]; mp != dockerModel {
		t.Errorf("values model.path %v != the Dockerfile's MODEL_PATH %q", mp, dockerModel)
	}
}

func toInt(v any) int {
	switch x := v.(type) {
	case int:
		return x
	case int64:
		return int(x)
	case float64:
		return int(x)
	case json.Number:
		i, _ := x.Int64()
		return int(i)
	}
	return -1
}

// ----------------------------------------------------------------- rules --

type rendered struct {
	vals     map[string]any
	docs     []doc
	byKind   map[string][]doc
	podMeta  metav1.ObjectMeta
	pod      corev1.PodSpec
	sts      *appsv1.StatefulSet
	deploy   *appsv1.Deployment
	service  *corev1.Service
	env      map[string]corev1.EnvVar
	worker   corev1.Container
	replicas *int32
}

func get(m map[string]any, path ...string) any {
	var cur any = m
	for _, p := range path {
		mm, ok := cur.(map[string]any)
		if !ok {
			return nil
		}
		cur = mm[p]
	}
	return cur
}

func checkAll(t *testing.T, vals map[string]any, docs []doc) {
	r := &rendered{vals: vals, docs: docs, byKind: map[string][]doc{}, env: map[string]corev1.EnvVar{}}
	// Merge the chart's defaults under the case's values, for the assertions.
	r.vals = mergeValues(loadChart(t).Values, vals)

	for i := range docs {
		d := &docs[i]
		r.byKind[d.kind] = append(r.byKind[d.kind], *d)
		apiVersion, _ := d.u["apiVersion"].(string)
		if strings.HasPrefix(apiVersion, "keda.sh/") {
			validateKeda(t, *d)
			continue
		}
		obj, gvk, err := strict.Decode(d.raw, nil, nil)
		if err != nil {
			t.Errorf("%s/%s: strict decoding (%s) failed: %v", d.kind, d.name, apiVersion, err)
			continue
		}
		if gvk.Kind != d.kind {
			t.Errorf("%s/%s decoded as %s", d.kind, d.name, gvk)
		}
		d.obj = obj
		switch o := obj.(type) {
		case *appsv1.StatefulSet:
			r.sts, r.podMeta, r.pod, r.replicas = o, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec, o.Spec.Replicas
		case *appsv1.Deployment:
			r.deploy, r.podMeta, r.pod, r.replicas = o, o.Spec.Template.ObjectMeta, o.Spec.Template.Spec, o.Spec.Replicas
		case *corev1.Service:
			r.service = o
		case *corev1.Secret:
			t.Errorf("the chart renders a Secret (%s): secrets come only from an existing Secret, never through Helm", o.Name)
		}
		r.byKind[d.kind][len(r.byKind[d.kind])-1] = *d
	}
	if (r.sts == nil) == (r.deploy == nil) {
		t.Fatalf("expected exactly one StatefulSet or Deployment, got %d/%d", len(r.byKind["StatefulSet"]), len(r.byKind["Deployment"]))
	}
	for _, c := range r.pod.Containers {
		if c.Name == "worker" {
			r.worker = c
		}
	}
	if r.worker.Name == "" {
		t.Fatal("no container named worker")
	}
	for _, e := range r.worker.Env {
		if _, dup := r.env[e.Name]; dup {
			t.Errorf("env %s is set twice", e.Name)
		}
		r.env[e.Name] = e
	}

	t.Run("workload", r.checkWorkload)
	t.Run("shutdown", r.checkShutdown)
	t.Run("probes", r.checkProbes)
	t.Run("pdb", r.checkPDB)
	t.Run("restricted", r.checkRestricted)
	t.Run("env", r.checkEnv)
	t.Run("secrets", r.checkSecrets)
	t.Run("model", r.checkModel)
	t.Run("resources", r.checkResources)
	t.Run("networkpolicy", r.checkNetworkPolicy)
	t.Run("monitoring", r.checkMonitoring)
	t.Run("keda", r.checkKeda)
}

func mergeValues(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if bm, ok := out[k].(map[string]any); ok {
			if om, ok := v.(map[string]any); ok {
				out[k] = mergeValues(bm, om)
				continue
			}
		}
		out[k] = v
	}
	return out
}

func (r *rendered) checkWorkload(t *testing.T) {
	kind := get(r.vals, "workload", "kind")
	keda := get(r.vals, "keda", "enabled") == true
	if kind == "StatefulSet" {
		if r.sts == nil {
			t.Fatal("workload.kind=StatefulSet rendered no StatefulSet")
		}
		if r.sts.Spec.PodManagementPolicy != appsv1.ParallelPodManagement {
			t.Errorf("podManagementPolicy %q, want Parallel", r.sts.Spec.PodManagementPolicy)
		}
		if r.service == nil || r.sts.Spec.ServiceName != r.service.Name || r.service.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("the StatefulSet's serviceName %q must be the chart's headless Service", r.sts.Spec.ServiceName)
		}
		id, ok := r.env["INSTANCE_ID"]
		if !ok || id.Value != "" || id.ValueFrom == nil || id.ValueFrom.FieldRef == nil || id.ValueFrom.FieldRef.FieldPath != "metadata.name" {
			t.Errorf("INSTANCE_ID must come from the pod name (downward API metadata.name), got %+v", id)
		}
		if _, ok := r.env["TRANSACTIONAL_ID"]; ok {
			t.Errorf("TRANSACTIONAL_ID must be left to its default <group>-<INSTANCE_ID>")
		}
	} else {
		if r.deploy == nil {
			t.Fatal("workload.kind=Deployment rendered no Deployment")
		}
		if _, ok := r.env["INSTANCE_ID"]; ok {
			t.Errorf("a Deployment's pods share their env: INSTANCE_ID must not be set (two pods with one id fence each other)")
		}
		if r.env["DELIVERY_GUARANTEE"].Value == "exactly-once" {
			t.Errorf("exactly-once rendered as a Deployment")
		}
	}
	if keda && r.replicas != nil {
		t.Errorf("KEDA owns the replica count: spec.replicas must be left out, got %d", *r.replicas)
	}
	if !keda {
		want := int32(toInt(get(r.vals, "replicaCount")))
		if r.replicas == nil || *r.replicas != want {
			t.Errorf("spec.replicas %v, want %d", r.replicas, want)
		}
		if int(want) > toInt(get(r.vals, "kafka", "inputPartitions")) {
			t.Errorf("replicas %d above the input topic's partitions", want)
		}
	}
	// The selector selects the pod template, and only this release's pods.
	var sel *metav1.LabelSelector
	if r.sts != nil {
		sel = r.sts.Spec.Selector
	} else {
		sel = r.deploy.Spec.Selector
	}
	for k, v := range sel.MatchLabels {
		if r.podMeta.Labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template", k, v)
		}
	}
	if sel.MatchLabels["app.kubernetes.io/instance"] == "" {
		t.Errorf("the selector does not include app.kubernetes.io/instance")
	}
}

func (r *rendered) checkShutdown(t *testing.T) {
	st, err := strconv.Atoi(r.env["SHUTDOWN_TIMEOUT_SECS"].Value)
	if err != nil {
		t.Fatalf("SHUTDOWN_TIMEOUT_SECS must be rendered (%v)", err)
	}
	g := r.pod.TerminationGracePeriodSeconds
	if g == nil || *g < int64(st)+10 {
		t.Errorf("terminationGracePeriodSeconds %v < SHUTDOWN_TIMEOUT_SECS %d + 10", g, st)
	}
	if r.worker.Lifecycle != nil && r.worker.Lifecycle.PreStop != nil {
		t.Errorf("a preStop hook delays SIGTERM and eats the grace period")
	}
}

func (r *rendered) checkProbes(t *testing.T) {
	var httpPort *corev1.ContainerPort
	for i, p := range r.worker.Ports {
		if p.Name == "http" {
			httpPort = &r.worker.Ports[i]
		}
	}
	if httpPort == nil {
		t.Fatal("no container port named http")
	}
	if want := fmt.Sprintf("0.0.0.0:%d", httpPort.ContainerPort); r.env["HTTP_ADDR"].Value != want {
		t.Errorf("HTTP_ADDR %q, but the port named http is %d", r.env["HTTP_ADDR"].Value, httpPort.ContainerPort)
	}
	for _, c := range []struct {
		name  string
		probe *corev1.Probe
		path  string
	}{{"startupProbe", r.worker.StartupProbe, "/healthz"}, {"livenessProbe", r.worker.LivenessProbe, "/healthz"}, {"readinessProbe", r.worker.ReadinessProbe, "/readyz"}} {
		if c.probe == nil || c.probe.HTTPGet == nil {
			t.Errorf("%s: missing or not httpGet", c.name)
			continue
		}
		if c.probe.HTTPGet.Path != c.path {
			t.Errorf("%s: path %q, want %q", c.name, c.probe.HTTPGet.Path, c.path)
		}
		if c.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("%s: port %s, want the named port http", c.name, c.probe.HTTPGet.Port.String())
		}
	}
	if r.service != nil {
		for _, p := range r.service.Spec.Ports {
			if p.TargetPort.String() != "http" {
				t.Errorf("Service port %s targets %s, want the named port http", p.Name, p.TargetPort.String())
			}
		}
		if r.service.Spec.Type != corev1.ServiceTypeClusterIP && r.service.Spec.Type != "" {
			t.Errorf("Service type %s: the HTTP port stays internal", r.service.Spec.Type)
		}
		if !r.service.Spec.PublishNotReadyAddresses {
			t.Errorf("the Service must publish not-ready pods, or Prometheus cannot see categorizer_ready == 0")
		}
	}
	for _, k := range []string{"Ingress", "Route"} {
		if len(r.byKind[k]) > 0 {
			t.Errorf("the chart renders an %s: the HTTP port must stay internal", k)
		}
	}
}

func (r *rendered) checkPDB(t *testing.T) {
	pdbs := r.byKind["PodDisruptionBudget"]
	if get(r.vals, "podDisruptionBudget", "enabled") != true {
		if len(pdbs) > 0 {
			t.Error("PDB rendered while disabled")
		}
		return
	}
	if len(pdbs) != 1 {
		t.Fatalf("%d PodDisruptionBudgets, want 1", len(pdbs))
	}
	pdb := pdbs[0].obj.(*policyv1.PodDisruptionBudget)
	if pdb.Spec.MaxUnavailable == nil || pdb.Spec.MaxUnavailable.String() != "1" || pdb.Spec.MinAvailable != nil {
		t.Errorf("PDB: maxUnavailable %v minAvailable %v, want maxUnavailable 1", pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable)
	}
	for k, v := range pdb.Spec.Selector.MatchLabels {
		if r.podMeta.Labels[k] != v {
			t.Errorf("PDB selector %s=%s does not match the pods", k, v)
		}
	}
}

var (
	evalOnce  sync.Once
	evaluator policy.Evaluator
)

func (r *rendered) checkRestricted(t *testing.T) {
	evalOnce.Do(func() {
		var err error
		evaluator, err = policy.NewEvaluator(policy.DefaultChecks(), nil)
		if err != nil {
			panic(err)
		}
	})
	lv := psapi.LevelVersion{Level: psapi.LevelRestricted, Version: psapi.LatestVersion()}
	for _, res := range evaluator.EvaluatePod(lv, &r.podMeta, &r.pod) {
		if !res.Allowed {
			t.Errorf("Pod Security Standards restricted (%s): %s: %s", psapi.LatestVersion(), res.ForbiddenReason, res.ForbiddenDetail)
		}
	}
	loadEnvNames(t)
	p := r.pod
	if p.SecurityContext == nil || p.SecurityContext.RunAsUser == nil || *p.SecurityContext.RunAsUser != int64(dockerUID) {
		t.Errorf("the pod must run as the image's uid %d", dockerUID)
	}
	if p.SecurityContext == nil || p.SecurityContext.SeccompProfile == nil || p.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod seccompProfile must be RuntimeDefault")
	}
	if p.AutomountServiceAccountToken == nil || *p.AutomountServiceAccountToken {
		t.Errorf("automountServiceAccountToken must be false")
	}
	if p.EnableServiceLinks == nil || *p.EnableServiceLinks {
		t.Errorf("enableServiceLinks must be false (a Service named kafka injects KAFKA_* variables)")
	}
	if p.HostNetwork || p.HostPID || p.HostIPC {
		t.Errorf("host namespaces")
	}
	for _, sa := range r.byKind["ServiceAccount"] {
		if o := sa.obj.(*corev1.ServiceAccount); o.AutomountServiceAccountToken == nil || *o.AutomountServiceAccountToken {
			t.Errorf("ServiceAccount %s: automountServiceAccountToken must be false", o.Name)
		}
	}
	for _, kind := range []string{"Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"} {
		if len(r.byKind[kind]) > 0 {
			t.Errorf("the worker needs no Kubernetes API access, but the chart renders a %s", kind)
		}
	}
	writable := map[string]bool{}
	for _, v := range p.Volumes {
		if v.EmptyDir != nil {
			writable[v.Name] = true
		}
	}
	for _, c := range append(append([]corev1.Container{}, p.InitContainers...), p.Containers...) {
		sc := c.SecurityContext
		if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem {
			t.Errorf("container %s: readOnlyRootFilesystem must be true", c.Name)
		}
		if sc == nil || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
			t.Errorf("container %s: allowPrivilegeEscalation must be false", c.Name)
		}
		if sc == nil || sc.Capabilities == nil || !slices.Contains(sc.Capabilities.Drop, "ALL") || len(sc.Capabilities.Add) > 0 {
			t.Errorf("container %s: capabilities must drop ALL and add none", c.Name)
		}
		for _, m := range c.VolumeMounts {
			if !m.ReadOnly && !writable[m.Name] {
				t.Errorf("container %s: %s is mounted writable but is not an emptyDir", c.Name, m.MountPath)
			}
		}
	}
	hasTmp := false
	for _, m := range r.worker.VolumeMounts {
		if m.MountPath == "/tmp" && writable[m.Name] {
			hasTmp = true
		}
	}
	if !hasTmp {
		t.Errorf("the worker needs a writable /tmp (emptyDir) under a read-only root filesystem")
	}
}

func (r *rendered) checkEnv(t *testing.T) {
	loadEnvNames(t)
	for _, c := range r.pod.Containers {
		for _, e := range c.Env {
			if msg := checkEnvName(e.Name); msg != "" {
				t.Error(msg)
			}
		}
		if len(c.EnvFrom) > 0 {
			t.Errorf("container %s uses envFrom: every variable must be named in the chart (and checked here)", c.Name)
		}
	}
	if got, want := r.env["CREATE_TOPICS"].Value, fmt.Sprint(get(r.vals, "kafka", "createTopics")); got != want {
		t.Errorf("CREATE_TOPICS %q, values say %s", got, want)
	}
	if get(r.vals, "kafka", "createTopics") == false && r.env["CREATE_TOPICS"].Value != "false" {
		t.Errorf("CREATE_TOPICS must be rendered false explicitly (the chart must not rely on the binary's default)")
	}
	if r.env["DELIVERY_GUARANTEE"].Value != get(r.vals, "worker", "deliveryGuarantee") {
		t.Errorf("DELIVERY_GUARANTEE %q != values %v", r.env["DELIVERY_GUARANTEE"].Value, get(r.vals, "worker", "deliveryGuarantee"))
	}
}

var secretish = regexp.MustCompile(`(?i)(PASSWORD|SECRET|TOKEN|CREDENTIAL|_PEM$|JAAS|PRIVATE|ASSERTION$|OAUTHBEARER_CONFIG$)`)

func (r *rendered) checkSecrets(t *testing.T) {
	secretVolumes := map[string]string{} // volume -> Secret name
	for _, v := range r.pod.Volumes {
		if v.Secret != nil {
			secretVolumes[v.Name] = v.Secret.SecretName
		}
		if v.Projected != nil {
			t.Errorf("volume %s is projected: secrets come from one existing Secret volume", v.Name)
		}
	}
	secretMounts := map[string]string{} // mount path -> Secret
	for _, m := range r.worker.VolumeMounts {
		if s, ok := secretVolumes[m.Name]; ok {
			secretMounts[m.MountPath] = s
			if !m.ReadOnly {
				t.Errorf("the Secret %s is mounted writable", s)
			}
		}
	}
	want := get(r.vals, "kafka", "secret", "name")
	if want != "" && want != nil {
		if secretMounts[secretDir] != want {
			t.Errorf("the Secret %v must be mounted at %s, mounts: %v", want, secretDir, secretMounts)
		}
	}
	for _, c := range append(append([]corev1.Container{}, r.pod.InitContainers...), r.pod.Containers...) {
		for _, e := range c.Env {
			if e.ValueFrom != nil && (e.ValueFrom.SecretKeyRef != nil || e.ValueFrom.ConfigMapKeyRef != nil) {
				t.Errorf("container %s: %s comes from a Secret/ConfigMap key into an env var: secrets only as files (KAFKA_<NAME>_FILE)", c.Name, e.Name)
			}
			isFile := strings.HasSuffix(e.Name, "_FILE")
			if isFile || strings.HasSuffix(e.Name, "_LOCATION") {
				if strings.HasPrefix(e.Name, "KAFKA_") && !strings.HasPrefix(e.Value, secretDir+"/") && isFile {
					t.Errorf("%s=%s does not point into the mounted Secret %s", e.Name, e.Value, secretDir)
				}
				continue
			}
			if secretish.MatchString(e.Name) {
				t.Errorf("container %s: %s carries a secret-looking value in an env var; it must be %s_FILE", c.Name, e.Name, e.Name)
			}
		}
	}
	// Every *_FILE names a key the Secret is asked for (kafka.secret.properties).
	props, _ := get(r.vals, "kafka", "secret", "properties").(map[string]any)
	for prop, key := range props {
		name := "KAFKA_" + strings.ToUpper(strings.ReplaceAll(prop, ".", "_")) + "_FILE"
		if r.env[name].Value != secretDir+"/"+fmt.Sprint(key) {
			t.Errorf("kafka.secret.properties.%s: want %s=%s/%v, got %q", prop, name, secretDir, key, r.env[name].Value)
		}
	}
}

func (r *rendered) checkModel(t *testing.T) {
	loadEnvNames(t)
	mp := r.env["MODEL_PATH"].Value
	switch get(r.vals, "model", "source") {
	case "image":
		if get(r.vals, "model", "path") == dockerModel && mp != dockerModel {
			t.Errorf("MODEL_PATH %q, the image's is %q", mp, dockerModel)
		}
	case "url":
		var init *corev1.Container
		for i := range r.pod.InitContainers {
			if r.pod.InitContainers[i].Name == "fetch-model" {
				init = &r.pod.InitContainers[i]
			}
		}
		if init == nil {
			t.Fatal("model.source=url: no fetch-model init container")
		}
		script := strings.Join(append(init.Command, init.Args...), " ")
		if !strings.Contains(script, "sha256sum -c") {
			t.Errorf("the fetch-model init container does not check the sha256")
		}
		ienv := map[string]string{}
		for _, e := range init.Env {
			ienv[e.Name] = e.Value
		}
		if ienv["MODEL_SHA256"] != get(r.vals, "model", "sha256") || ienv["MODEL_URL"] != get(r.vals, "model", "url") {
			t.Errorf("fetch-model env %v does not carry model.url / model.sha256", ienv)
		}
		fallthrough
	case "volume":
		dir := filepath.Dir(mp)
		mounted := false
		for _, m := range r.worker.VolumeMounts {
			if m.MountPath == dir && m.ReadOnly {
				mounted = true
			}
		}
		if !mounted {
			t.Errorf("MODEL_PATH %s: its directory is not a read-only mount of the worker", mp)
		}
	}
	// Never a ConfigMap (1 MiB limit; Helm's release Secret would carry it too).
	for _, d := range r.byKind["ConfigMap"] {
		cm := d.obj.(*corev1.ConfigMap)
		if len(cm.BinaryData) > 0 {
			t.Errorf("ConfigMap %s has binaryData", cm.Name)
		}
		for k := range cm.Data {
			if strings.HasSuffix(k, ".onnx") {
				t.Errorf("ConfigMap %s carries a model (%s)", cm.Name, k)
			}
		}
		if len(d.raw) > 900*1024 {
			t.Errorf("ConfigMap %s is %d bytes, near the 1 MiB limit", cm.Name, len(d.raw))
		}
	}
	for _, v := range r.pod.Volumes {
		if v.ConfigMap != nil {
			t.Errorf("volume %s is a ConfigMap: the model is never a ConfigMap", v.Name)
		}
	}
}

func (r *rendered) checkResources(t *testing.T) {
	res := r.worker.Resources
	if _, ok := res.Limits[corev1.ResourceCPU]; ok && get(r.vals, "resources", "limits", "cpu") == nil {
		t.Errorf("a CPU limit by default: throttling stalls the pipeline")
	}
	mr, ok1 := res.Requests[corev1.ResourceMemory]
	ml, ok2 := res.Limits[corev1.ResourceMemory]
	if !ok1 || !ok2 {
		t.Fatalf("memory request and limit must be set, got %v", res)
	}
	if mr.Cmp(ml) > 0 {
		t.Errorf("memory request %s above its limit %s", mr.String(), ml.String())
	}
	// The measured peak RSS (docs/performance.md: 91-140 MB) with headroom.
	if ml.Value() < 160<<20 {
		t.Errorf("memory limit %s below the measured peak RSS with headroom (160Mi)", ml.String())
	}
	cpu, ok := res.Requests[corev1.ResourceCPU]
	if !ok {
		t.Errorf("no CPU request")
	}
	// Unless set, the CPU request is one core per inference thread.
	if c := get(r.vals, "resources", "requests", "cpu"); c == nil || c == "" {
		threads := 1
		if n := toInt(get(r.vals, "worker", "inferenceThreads")); n > 0 {
			threads = n
		}
		if cpu.MilliValue() != int64(threads)*1000 {
			t.Errorf("CPU request %s, want %d (worker.inferenceThreads)", cpu.String(), threads)
		}
		if r.env["INFERENCE_THREADS"].Value != "" && r.env["INFERENCE_THREADS"].Value != strconv.Itoa(threads) {
			t.Errorf("INFERENCE_THREADS %q != %d", r.env["INFERENCE_THREADS"].Value, threads)
		}
	}
}

func (r *rendered) checkNetworkPolicy(t *testing.T) {
	nps := r.byKind["NetworkPolicy"]
	if get(r.vals, "networkPolicy", "enabled") != true {
		if len(nps) > 0 {
			t.Error("NetworkPolicy rendered while disabled")
		}
		return
	}
	if len(nps) != 1 {
		t.Fatalf("%d NetworkPolicies, want 1", len(nps))
	}
	np := nps[0].obj.(*networkingv1.NetworkPolicy)
	for k, v := range np.Spec.PodSelector.MatchLabels {
		if r.podMeta.Labels[k] != v {
			t.Errorf("NetworkPolicy podSelector %s=%s does not match the pods", k, v)
		}
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("policyTypes %v, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	monNS := get(r.vals, "networkPolicy", "metrics", "namespace")
	if len(np.Spec.Ingress) != 1 {
		t.Fatalf("%d ingress rules, want one (the HTTP port from the monitoring namespace)", len(np.Spec.Ingress))
	}
	in := np.Spec.Ingress[0]
	if len(in.Ports) != 1 || in.Ports[0].Port == nil || in.Ports[0].Port.String() != "http" {
		t.Errorf("ingress ports %v, want only the named port http", in.Ports)
	}
	if len(in.From) == 0 {
		t.Errorf("ingress from anywhere")
	}
	for _, f := range in.From {
		if f.IPBlock != nil || f.NamespaceSelector == nil || f.NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"] != monNS {
			t.Errorf("ingress peer %+v is not the monitoring namespace %v", f, monNS)
		}
	}
	ports := map[string]bool{}
	for _, e := range np.Spec.Egress {
		for _, p := range e.Ports {
			proto := "TCP"
			if p.Protocol != nil {
				proto = string(*p.Protocol)
			}
			ports[fmt.Sprintf("%s/%s", p.Port.String(), proto)] = true
		}
		if len(e.Ports) == 0 {
			t.Errorf("an egress rule without ports allows everything: %+v", e)
		}
	}
	need := []string{"53/UDP", "53/TCP"}
	for _, bs := range strings.Split(r.env["KAFKA_BOOTSTRAP_SERVERS"].Value, ",") {
		need = append(need, bs[strings.LastIndex(bs, ":")+1:]+"/TCP")
	}
	if ep := r.env["OTEL_EXPORTER_OTLP_ENDPOINT"].Value; ep != "" {
		port := regexp.MustCompile(`:([0-9]+)(/|$)`).FindStringSubmatch(strings.TrimPrefix(strings.TrimPrefix(ep, "http://"), "https://"))
		if port != nil {
			need = append(need, port[1]+"/TCP")
		}
	}
	if get(r.vals, "model", "source") == "url" {
		u := fmt.Sprint(get(r.vals, "model", "url"))
		p := "443"
		if m := regexp.MustCompile(`^https?://[^/:]+:([0-9]+)`).FindStringSubmatch(u); m != nil {
			p = m[1]
		} else if strings.HasPrefix(u, "http://") {
			p = "80"
		}
		need = append(need, p+"/TCP")
	}
	for _, n := range need {
		if !ports[n] {
			t.Errorf("egress does not allow %s (have %v)", n, keys(ports))
		}
	}
}

func keys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

func (r *rendered) checkMonitoring(t *testing.T) {
	sms := r.byKind["ServiceMonitor"]
	if get(r.vals, "metrics", "serviceMonitor", "enabled") == true {
		if len(sms) != 1 {
			t.Fatalf("%d ServiceMonitors, want 1", len(sms))
		}
		sm := sms[0].obj.(*monitoringv1.ServiceMonitor)
		if r.service == nil {
			t.Fatal("ServiceMonitor without a Service")
		}
		for k, v := range sm.Spec.Selector.MatchLabels {
			if r.service.Labels[k] != v {
				t.Errorf("ServiceMonitor selector %s=%s does not match the Service", k, v)
			}
		}
		if job := r.service.Labels[sm.Spec.JobLabel]; sm.Spec.JobLabel == "" || job != jobName {
			t.Errorf("the scrape job would be %q (jobLabel %q), but the alerts and dashboard query job=%q", job, sm.Spec.JobLabel, jobName)
		}
		for _, ep := range sm.Spec.Endpoints {
			found := false
			for _, p := range r.service.Spec.Ports {
				if p.Name == ep.Port {
					found = true
				}
			}
			if !found || ep.Path != "/metrics" {
				t.Errorf("ServiceMonitor endpoint port %q path %q: want the Service's named port and /metrics", ep.Port, ep.Path)
			}
		}
		if sm.Spec.NamespaceSelector.Any || len(sm.Spec.NamespaceSelector.MatchNames) != 1 {
			t.Errorf("ServiceMonitor namespaceSelector %+v, want the release namespace", sm.Spec.NamespaceSelector)
		}
	} else if len(sms) > 0 {
		t.Error("ServiceMonitor rendered while disabled")
	}

	rules := r.byKind["PrometheusRule"]
	if get(r.vals, "metrics", "prometheusRule", "enabled") == true {
		if len(rules) != 1 {
			t.Fatalf("%d PrometheusRules, want 1", len(rules))
		}
		pr := rules[0].obj.(*monitoringv1.PrometheusRule)
		b, err := os.ReadFile(filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"))
		if err != nil {
			t.Fatal(err)
		}
		var want struct {
			Groups []monitoringv1.RuleGroup `json:"groups"`
		}
		if err := yaml.UnmarshalStrict(b, &want); err != nil {
			t.Fatalf("deploy/prometheus/alerts.yml: %v", err)
		}
		if !reflect.DeepEqual(pr.Spec.Groups, want.Groups) {
			g, _ := yaml.Marshal(pr.Spec.Groups)
			w, _ := yaml.Marshal(want.Groups)
			t.Errorf("the PrometheusRule's groups differ from deploy/prometheus/alerts.yml:\n--- rendered\n%s\n--- alerts.yml\n%s", g, w)
		}
		// Same through plain YAML (no field the typed struct would drop).
		var wantRaw map[string]any
		_ = yaml.Unmarshal(b, &wantRaw)
		spec, _ := rules[0].u["spec"].(map[string]any)
		if !reflect.DeepEqual(jsonRound(spec["groups"]), jsonRound(wantRaw["groups"])) {
			t.Errorf("the PrometheusRule's groups differ from deploy/prometheus/alerts.yml (untyped)")
		}
		if !strings.Contains(string(b), `job="`+jobName+`"`) {
			t.Errorf("alerts.yml no longer queries job=%q: update jobName here and the chart's jobLabel", jobName)
		}
	} else if len(rules) > 0 {
		t.Error("PrometheusRule rendered while disabled")
	}

	var dash []doc
	for _, d := range r.byKind["ConfigMap"] {
		if strings.HasSuffix(d.name, "-dashboard") {
			dash = append(dash, d)
		}
	}
	if get(r.vals, "metrics", "dashboard", "enabled") == true {
		if len(dash) != 1 {
			t.Fatalf("%d dashboard ConfigMaps, want 1", len(dash))
		}
		cm := dash[0].obj.(*corev1.ConfigMap)
		label := fmt.Sprint(get(r.vals, "metrics", "dashboard", "label"))
		if cm.Labels[label] != fmt.Sprint(get(r.vals, "metrics", "dashboard", "labelValue")) {
			t.Errorf("dashboard ConfigMap lacks the sidecar label %s", label)
		}
		want, _ := os.ReadFile(filepath.Join(repoRoot, "deploy", "grafana", "dashboards", "product-categorizer.json"))
		got := cm.Data["product-categorizer.json"]
		if strings.TrimRight(got, "\n") != strings.TrimRight(string(want), "\n") {
			t.Errorf("the dashboard ConfigMap's JSON differs from deploy/grafana/dashboards/product-categorizer.json")
		}
		var js map[string]any
		if err := json.Unmarshal([]byte(got), &js); err != nil {
			t.Errorf("dashboard JSON: %v", err)
		}
		if !strings.Contains(got, `job=\"`+jobName+`\"`) && !strings.Contains(got, `job=~\"`+jobName) {
			t.Logf("note: the dashboard does not filter on job=%q", jobName)
		}
	} else if len(dash) > 0 {
		t.Error("dashboard ConfigMap rendered while disabled")
	}
}

func jsonRound(v any) any {
	b, _ := json.Marshal(v)
	var out any
	_ = json.Unmarshal(b, &out)
	return out
}

func (r *rendered) checkKeda(t *testing.T) {
	sos := r.byKind["ScaledObject"]
	if get(r.vals, "keda", "enabled") != true {
		if len(sos) > 0 || len(r.byKind["TriggerAuthentication"]) > 0 {
			t.Error("KEDA objects rendered while disabled")
		}
		return
	}
	loadKeda(t)
	if len(sos) != 1 {
		t.Fatalf("%d ScaledObjects, want 1", len(sos))
	}
	so := sos[0].u
	spec := so["spec"].(map[string]any)
	target := spec["scaleTargetRef"].(map[string]any)
	wl := r.byKind[fmt.Sprint(get(r.vals, "workload", "kind"))][0]
	if target["kind"] != wl.kind || target["name"] != wl.name {
		t.Errorf("scaleTargetRef %v is not the workload %s/%s", target, wl.kind, wl.name)
	}
	if toInt(spec["minReplicaCount"]) != 1 && toInt(get(r.vals, "keda", "minReplicaCount")) == 1 {
		t.Errorf("minReplicaCount %v", spec["minReplicaCount"])
	}
	if toInt(spec["minReplicaCount"]) < 1 {
		t.Errorf("minReplicaCount %v: below 1 nothing reports readiness or lag", spec["minReplicaCount"])
	}
	if max := toInt(spec["maxReplicaCount"]); max > toInt(get(r.vals, "kafka", "inputPartitions")) || max < 1 {
		t.Errorf("maxReplicaCount %d: must be 1..the input topic's partitions (%v)", max, get(r.vals, "kafka", "inputPartitions"))
	}
	down, _ := get(spec, "advanced", "horizontalPodAutoscalerConfig", "behavior", "scaleDown").(map[string]any)
	if down == nil || toInt(down["stabilizationWindowSeconds"]) < 60 {
		t.Errorf("scale-down must be slow (stabilizationWindowSeconds >= 60), got %v", down)
	} else {
		for _, p := range down["policies"].([]any) {
			pm := p.(map[string]any)
			if pm["type"] != "Pods" || toInt(pm["value"]) > 1 {
				t.Errorf("scale-down policy %v: one pod per step (each step is a rebalance)", pm)
			}
		}
	}
	triggers := spec["triggers"].([]any)
	if len(triggers) != 1 {
		t.Fatalf("%d triggers, want one kafka trigger", len(triggers))
	}
	tr := triggers[0].(map[string]any)
	if tr["type"] != "kafka" {
		t.Errorf("trigger type %v", tr["type"])
	}
	// Values quoted: look at the rendered YAML itself, not the decoded map.
	var rawSO struct {
		Spec struct {
			Triggers []struct {
				Metadata map[string]any `json:"metadata"`
			} `json:"triggers"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal(sos[0].raw, &rawSO); err != nil {
		t.Fatal(err)
	}
	md := map[string]string{}
	for k, v := range rawSO.Spec.Triggers[0].Metadata {
		s, ok := v.(string)
		if !ok {
			t.Errorf("trigger metadata %s: %v (%T) is not a quoted string", k, v, v)
		}
		md[k] = s
		if !kedaMetaKeys[k] {
			t.Errorf("trigger metadata %s is not a parameter of KEDA v2.21.0's Kafka scaler", k)
		}
	}
	for k, want := range map[string]string{
		"topic":                      r.env["INPUT_TOPIC"].Value,
		"consumerGroup":              r.env["KAFKA_GROUP_ID"].Value,
		"bootstrapServers":           r.env["KAFKA_BOOTSTRAP_SERVERS"].Value,
		"offsetResetPolicy":          "earliest",
		"excludePersistentLag":       "true",
		"allowIdleConsumers":         "false",
		"scaleToZeroOnInvalidOffset": "false",
	} {
		if md[k] != want {
			t.Errorf("trigger metadata %s=%q, want %q", k, md[k], want)
		}
	}
	if n, err := strconv.Atoi(md["lagThreshold"]); err != nil || n < 1 {
		t.Errorf("lagThreshold %q must be a positive integer", md["lagThreshold"])
	}
	tas := r.byKind["TriggerAuthentication"]
	if ref, ok := tr["authenticationRef"].(map[string]any); ok {
		if len(tas) != 1 || tas[0].name != ref["name"] {
			t.Fatalf("authenticationRef %v names no rendered TriggerAuthentication", ref)
		}
		secret := get(r.vals, "kafka", "secret", "name")
		for _, s := range get(tas[0].u, "spec", "secretTargetRef").([]any) {
			sm := s.(map[string]any)
			if sm["name"] != secret {
				t.Errorf("TriggerAuthentication reads Secret %v, the pods read %v", sm["name"], secret)
			}
			if !kedaAuthParams[fmt.Sprint(sm["parameter"])] {
				t.Errorf("TriggerAuthentication parameter %v is not one of the Kafka scaler's auth parameters", sm["parameter"])
			}
		}
	} else if len(tas) > 0 {
		t.Errorf("a TriggerAuthentication nobody references")
	}
}

// TestHelmCLIAgrees (scripts/check-helm --helm-cli, not in make test): the
// real `helm template` and `helm lint --strict` of CHECK_HELM_CLI give the
// same objects, refusals and verdict as the SDK path the other tests use.
func TestHelmCLIAgrees(t *testing.T) {
	helm := os.Getenv("CHECK_HELM_CLI")
	if helm == "" {
		t.Skip("CHECK_HELM_CLI not set (scripts/check-helm --helm-cli)")
	}
	byName := func(docs []doc) map[string]any {
		m := map[string]any{}
		for _, d := range docs {
			m[d.kind+"/"+d.name] = jsonRound(d.u)
		}
		return m
	}
	files, _ := filepath.Glob("cases/*.yaml")
	for _, f := range files {
		out, err := exec.Command(helm, "template", "shop", chartDir, "-n", "erp", "-f", f, "--kube-version", kubeVersion).Output()
		if err != nil {
			t.Errorf("%s: helm template: %v", f, err)
			continue
		}
		manifest, err := render(t, loadValues(t, f))
		if err != nil {
			t.Fatal(err)
		}
		cli, sdk := byName(splitDocs(t, string(out))), byName(splitDocs(t, manifest))
		if !reflect.DeepEqual(cli, sdk) {
			t.Errorf("%s: helm template renders %v, the SDK path %v (or their contents differ)", f, keys(cli), keys(sdk))
		}
	}
	refused, _ := filepath.Glob("cases/fail/*.yaml")
	for _, f := range refused {
		b, _ := os.ReadFile(f)
		first, _, _ := strings.Cut(string(b), "\n")
		want := strings.TrimPrefix(first, "# error: ")
		out, err := exec.Command(helm, "template", "shop", chartDir, "-n", "erp", "-f", f).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: helm template should fail with %q, got %v: %s", f, want, err, out)
		}
	}
	if out, err := exec.Command(helm, "lint", "--strict", chartDir, "-n", "erp", "-f", "cases/minimal.yaml").CombinedOutput(); err != nil {
		t.Errorf("helm lint --strict: %v\n%s", err, out)
	}
}

// TestWorkerAcceptsRenderedEnv: the worker binary starts with the environment
// each case renders (values, not only names: a value it refuses stops it at
// start-up). Brokers are pointed at a closed port (the worker then waits, not
// ready), the Secret's files are dummies in a temporary directory, the
// image's model path is the repository's model; *_LOCATION certificates are
// left out (they would need real PEM files). Needs CHECK_HELM_WORKER_BINARY
// and CHECK_HELM_ORT_DYLIB (scripts/check-helm sets both when they exist).
func TestWorkerAcceptsRenderedEnv(t *testing.T) {
	bin, ort := os.Getenv("CHECK_HELM_WORKER_BINARY"), os.Getenv("CHECK_HELM_ORT_DYLIB")
	if bin == "" || ort == "" {
		t.Skip("CHECK_HELM_WORKER_BINARY or CHECK_HELM_ORT_DYLIB not set")
	}
	loadEnvNames(t)
	repoModel, _ := filepath.Abs(filepath.Join(repoRoot, "model", "product_category.onnx"))
	files, _ := filepath.Glob("cases/*.yaml")
	for _, f := range files {
		f := f
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			t.Parallel()
			manifest, err := render(t, loadValues(t, f))
			if err != nil {
				t.Fatal(err)
			}
			var pod *corev1.PodSpec
			for _, d := range splitDocs(t, manifest) {
				if d.kind != "StatefulSet" && d.kind != "Deployment" {
					continue
				}
				obj, _, err := strict.Decode(d.raw, nil, nil)
				if err != nil {
					t.Fatal(err)
				}
				switch o := obj.(type) {
				case *appsv1.StatefulSet:
					pod = &o.Spec.Template.Spec
				case *appsv1.Deployment:
					pod = &o.Spec.Template.Spec
				}
			}
			secrets := t.TempDir()
			port := freePort(t)
			env := []string{"PATH=" + os.Getenv("PATH"), "ORT_DYLIB_PATH=" + ort}
			var left []string
			for _, c := range pod.Containers {
				if c.Name != "worker" {
					continue
				}
				for _, e := range c.Env {
					v := e.Value
					switch {
					case e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
						v = "shop-product-categorizer-0"
					case strings.HasSuffix(e.Name, "_LOCATION"):
						left = append(left, e.Name)
						continue
					case e.Name == "KAFKA_BOOTSTRAP_SERVERS":
						v = "127.0.0.1:9" // closed: the worker waits for it
					case e.Name == "HTTP_ADDR":
						v = fmt.Sprintf("127.0.0.1:%d", port)
					case e.Name == "MODEL_PATH" || e.Name == "SHADOW_MODEL_PATH":
						v = repoModel
					case e.Name == "OTEL_EXPORTER_OTLP_ENDPOINT":
						v = "http://127.0.0.1:9"
					case strings.HasPrefix(v, secretDir+"/"):
						v = filepath.Join(secrets, strings.TrimPrefix(v, secretDir+"/"))
						if err := os.WriteFile(v, []byte("not-a-real-secret\n"), 0o600); err != nil {
							t.Fatal(err)
						}
					}
					env = append(env, e.Name+"="+v)
				}
			}
			if len(left) > 0 {
				t.Logf("left out (certificate paths): %v", left)
			}
			cmd := exec.Command(bin)
			cmd.Env = env
			var stderr bytes.Buffer
			cmd.Stderr, cmd.Stdout = &stderr, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			// Accepted once /readyz waits for the group: the model is loaded and
			// the Kafka clients exist (librdkafka has taken every property); a
			// refused setting exits before that.
			client := http.Client{Timeout: time.Second}
			deadline := time.Now().Add(20 * time.Second)
		poll:
			for {
				select {
				case err := <-done:
					t.Fatalf("the worker exited (%v) with the rendered environment:\n%s", err, tail(stderr.String(), 2000))
				default:
				}
				if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/readyz", port)); err == nil {
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if strings.Contains(string(body), "group") {
						break poll
					}
				}
				if time.Now().After(deadline) {
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("the worker did not reach \"waiting for its group\" within 20 s:\n%s", tail(stderr.String(), 2000))
				}
				time.Sleep(50 * time.Millisecond)
			}
			_ = cmd.Process.Kill()
			<-done
		})
	}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func tail(s string, n int) string {
	if len(s) > n {
		return "..." + s[len(s)-n:]
	}
	return s
}
