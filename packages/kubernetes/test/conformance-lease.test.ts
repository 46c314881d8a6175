import { describeKubernetesConformance } from "./kube-conformance.js";

describeKubernetesConformance("Lease");
