import { describeAnnotationConformance } from "./annotation-conformance.js";

describeAnnotationConformance("ConfigMap");
