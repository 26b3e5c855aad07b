// profile_report.c: the --profile table (see profile_report.h).
#include "profile_report.h"

#include <math.h>

static double pct(double part, double whole) { return whole > 0 ? 100.0 * part / whole : NAN; }

void profile_report_print(FILE *fp, const char *title, const ModelConfig *m, const RoofShape *shape,
                          const StepProfile *p, double median_ms) {
    RoofCosts costs;
    roofline_costs(m, shape, &costs);
    const RoofCeilings *ce = &roof_h200;
    double ideal_ms = 1e3 * roofline_ideal_s(&costs, ce), covered = 0;
    fprintf(fp, "\nprofile: %s: profiled step %.3f ms (timed median %.3f ms), ideal at the H200 ceilings %.3f ms\n\n",
            title, p->step_ms, median_ms, ideal_ms);
    fprintf(fp, "| op class         | pass      | calls |        ms |  share |      achieved |       ceiling | of ceiling | ideal ms |\n"
                "|------------------|-----------|------:|----------:|-------:|--------------:|--------------:|-----------:|---------:|\n");
    for (int k = 0; k < OPK_COUNT; k++)
        for (int ps = 0; ps < OPP_COUNT; ps++) {
            const OpCost *c = &costs.c[k][ps];
            double ms = p->ms[k][ps];
            if (!p->calls[k][ps] && c->flop == 0 && c->bytes == 0) continue;
            covered += ms;
            int flop = op_kind_is_gemm((OpKind)k) || k == OPK_ATTN;
            double work = flop ? c->flop : c->bytes, ceiling = roofline_ceiling(ce, (OpKind)k, (OpPass)ps);
            double rate = work / (ms * 1e-3);
            char got[24] = "-", pc[16] = "-";
            if (ms > 0) {
                snprintf(got, sizeof got, "%.1f %s", rate * 1e-12, flop ? "TF/s" : "TB/s");
                snprintf(pc, sizeof pc, "%.1f%%", pct(rate, ceiling));
            }
            fprintf(fp, "| %-16s | %-9s | %5d | %9.3f | %5.1f%% | %13s | %8.1f %4s | %10s | %8.3f |\n",
                    op_kind_name((OpKind)k), op_pass_name((OpPass)ps), p->calls[k][ps], ms, pct(ms, p->step_ms), got,
                    ceiling * 1e-12, flop ? "TF/s" : "TB/s", pc, 1e3 * roofline_class_s(&costs, ce, (OpKind)k, (OpPass)ps));
        }
    fprintf(fp, "| between ranges   |           |       | %9.3f | %5.1f%% |               |               |            |          |\n",
            p->step_ms - covered, pct(p->step_ms - covered, p->step_ms));
    fprintf(fp, "| step             |           |       | %9.3f | 100.0%% |               |               | %9.1f%% | %8.3f |\n",
            p->step_ms, pct(ideal_ms, p->step_ms), ideal_ms);
    fflush(fp);
}
