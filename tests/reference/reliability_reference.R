# Reference values for tests/reliability/test_reference_values.py.
#
# Run from the repository root:
#     Rscript tests/reference/reliability_reference.R
# It writes tests/reference/reliability_reference.json (inputs and expected outputs together), which
# is committed, so the Python tests do not need R.
#
# Sources of the expected values:
#   * psych::ICC (lmer = FALSE: the ANOVA estimates): the six Shrout-Fleiss ICCs, F, df, p, CIs.
#   * psych::alpha: Cronbach's alpha (= ICC3k of the same matrix).
#   * psych::r.test(n, r12, r13, r23): Williams' T2 for two dependent correlations.
#   * psych::cohen.kappa: Cohen's kappa, unweighted and weighted (quadratic weights).
#   * Fleiss' kappa and Krippendorff's alpha: no package on this Debian (r-cran-irr is not packaged),
#     so they are written out here from the published definitions (Fleiss 1971 with the null
#     variance of Fleiss, Levin & Paik 2003 as in irr::kappam.fleiss; Krippendorff 2011's
#     coincidence-matrix algorithm). These R implementations share no code with the Python ones
#     (statsmodels / the krippendorff package) and are checked against the published worked
#     examples (Fleiss 1971: kappa = 0.210; Krippendorff 2011: alpha = 0.743 / 0.815 / 0.849 / 0.797).
#
# Tested with R 4.2.2, psych 2.2.9, jsonlite 1.8.4 (Debian bookworm: r-base-core r-cran-psych r-cran-jsonlite).

suppressPackageStartupMessages({
  library(psych)
  library(jsonlite)
})

out <- list(
  meta = list(
    r_version = R.version.string,
    psych_version = as.character(packageVersion("psych")),
    generated_by = "tests/reference/reliability_reference.R"
  )
)

# ------------------------------------------------------------------------------------------
# ICC
# ------------------------------------------------------------------------------------------
icc_case <- function(m, alpha = 0.05) {
  r <- psych::ICC(m, lmer = FALSE, alpha = alpha)$results
  list(
    ratings = unname(m),
    confidence = 1 - alpha,
    type = as.character(r$type),
    icc = unname(r$ICC),
    F = unname(r$F),
    df1 = unname(r$df1),
    df2 = unname(r$df2),
    p = unname(r$p),
    lower = unname(r[["lower bound"]]),
    upper = unname(r[["upper bound"]])
  )
}

# Shrout & Fleiss (1979), Table 2: 6 targets x 4 judges.
sf <- matrix(c(9, 2, 5, 8, 6, 1, 3, 2, 8, 4, 6, 8, 7, 1, 2, 6, 10, 5, 6, 9, 6, 2, 4, 7), ncol = 4, byrow = TRUE)
set.seed(20240501)
true <- rnorm(25, 3, 1)
rand <- round(cbind(true + rnorm(25, 0, 0.7), true + 0.8 + rnorm(25, 0, 0.7), true - 0.4 + rnorm(25, 0, 0.7)), 1)
out$icc <- list(
  shrout_fleiss = icc_case(sf),
  shrout_fleiss_90 = icc_case(sf, alpha = 0.10),
  random_25x3 = icc_case(rand)
)
out$cronbach <- list(
  ratings = unname(rand),
  alpha = unname(psych::alpha(as.data.frame(rand), warnings = FALSE)$total$raw_alpha)
)

# ------------------------------------------------------------------------------------------
# Williams' test
# ------------------------------------------------------------------------------------------
rt <- function(n, r12, r13, r23) {
  x <- psych::r.test(n = n, r12 = r12, r13 = r13, r23 = r23)
  list(n = n, r12 = r12, r13 = r13, r23 = r23, t = unname(x$t), p = unname(x$p))
}
out$williams_r <- list(
  rt(50, 0.5, 0.3, 0.4),
  rt(103, 0.6, 0.45, 0.7),
  rt(20, -0.2, 0.3, 0.1),
  rt(1000, 0.31, 0.29, 0.85)
)
set.seed(7)
h <- round(rnorm(40), 3)
a <- round(h + rnorm(40, 0, 0.8), 3)
b <- round(h + rnorm(40, 0, 1.2) + 0.3 * a, 3)
data_case <- function(method) {
  r12 <- cor(h, a, method = method)
  r13 <- cor(h, b, method = method)
  r23 <- cor(a, b, method = method)
  x <- psych::r.test(n = length(h), r12 = r12, r13 = r13, r23 = r23)
  list(method = method, r12 = r12, r13 = r13, r23 = r23, t = unname(x$t), p = unname(x$p))
}
out$williams_data <- list(
  human = h, a = a, b = b,
  cases = list(data_case("pearson"), data_case("spearman"))
)

# ------------------------------------------------------------------------------------------
# Cohen's kappa (psych::cohen.kappa; its default weights are quadratic)
# ------------------------------------------------------------------------------------------
set.seed(11)
ra <- sample(1:4, 40, replace = TRUE, prob = c(0.2, 0.3, 0.3, 0.2))
rb <- ifelse(runif(40) < 0.6, ra, sample(1:4, 40, replace = TRUE))
ck <- suppressWarnings(psych::cohen.kappa(cbind(ra, rb)))
out$cohen <- list(a = ra, b = rb, kappa = unname(ck$kappa), weighted_quadratic = unname(ck$weighted.kappa))

# ------------------------------------------------------------------------------------------
# Fleiss' kappa, from the definition (items x categories count table)
# ------------------------------------------------------------------------------------------
fleiss <- function(counts) {
  N <- nrow(counts)
  n <- sum(counts[1, ])
  pj <- colSums(counts) / (N * n)
  Pi <- (rowSums(counts^2) - n) / (n * (n - 1))
  Pbar <- mean(Pi)
  Pe <- sum(pj^2)
  kappa <- (Pbar - Pe) / (1 - Pe)
  qj <- 1 - pj
  var0 <- (2 / (sum(pj * qj)^2 * (N * n * (n - 1)))) * (sum(pj * qj)^2 - sum(pj * qj * (qj - pj)))
  z <- kappa / sqrt(var0)
  list(counts = unname(counts), kappa = kappa, z = z, p = 2 * (1 - pnorm(abs(z))))
}
wiki <- matrix(c(
  0, 0, 0, 0, 14,
  0, 2, 6, 4, 2,
  0, 0, 3, 5, 6,
  0, 3, 9, 2, 0,
  2, 2, 8, 1, 1,
  7, 7, 0, 0, 0,
  3, 2, 6, 3, 0,
  2, 5, 3, 2, 2,
  6, 5, 2, 1, 0,
  0, 2, 2, 3, 7
), ncol = 5, byrow = TRUE)
set.seed(3)
base <- sample(1:3, 30, replace = TRUE)
fr <- t(sapply(base, function(v) ifelse(runif(5) < 0.55, v, sample(1:3, 5, replace = TRUE))))
fr_counts <- t(apply(fr, 1, function(row) tabulate(row, nbins = 3)))
out$fleiss <- list(
  fleiss_1971 = fleiss(wiki),
  random_30x5 = c(list(ratings = unname(fr)), fleiss(fr_counts))
)

# ------------------------------------------------------------------------------------------
# Krippendorff's alpha, from the coincidence matrix (Krippendorff 2011)
# ------------------------------------------------------------------------------------------
kripp <- function(M, level) { # M: units x raters, NA = missing
  vals <- sort(unique(na.omit(as.vector(M))))
  K <- length(vals)
  o <- matrix(0, K, K)
  for (u in seq_len(nrow(M))) {
    x <- na.omit(M[u, ])
    m <- length(x)
    if (m < 2) next
    for (i in seq_len(m)) for (j in seq_len(m)) {
      if (i != j) {
        a <- match(x[i], vals)
        b <- match(x[j], vals)
        o[a, b] <- o[a, b] + 1 / (m - 1)
      }
    }
  }
  nc <- rowSums(o)
  n <- sum(nc)
  d <- matrix(0, K, K)
  for (a in 1:K) for (b in 1:K) {
    va <- vals[a]
    vb <- vals[b]
    d[a, b] <- switch(level,
      nominal = as.numeric(a != b),
      ordinal = {
        lo <- min(a, b)
        hi <- max(a, b)
        (sum(nc[lo:hi]) - (nc[a] + nc[b]) / 2)^2
      },
      interval = (va - vb)^2,
      ratio = if (va + vb == 0) 0 else ((va - vb) / (va + vb))^2
    )
  }
  1 - (n - 1) * sum(o * d) / sum(outer(nc, nc) * d)
}
k2011 <- rbind( # Krippendorff (2011), reliability data with missing values: 12 units x 4 observers
  c(1, 1, NA, 1), c(2, 2, 3, 2), c(3, 3, 3, 3), c(3, 3, 3, 3), c(2, 2, 2, 2), c(1, 2, 3, 4),
  c(4, 4, 4, 4), c(1, 1, 2, 1), c(2, 2, 2, 2), c(NA, 5, 5, 5), c(NA, NA, 1, 1), c(NA, 3, NA, NA)
)
set.seed(5)
kt <- sample(1:5, 30, replace = TRUE)
kr <- t(sapply(kt, function(v) pmin(5, pmax(1, v + sample(-1:1, 4, replace = TRUE, prob = c(0.2, 0.6, 0.2))))))
kr[sample(length(kr), 24)] <- NA
kcase <- function(M) {
  list(
    ratings = lapply(seq_len(nrow(M)), function(i) M[i, ]),
    nominal = kripp(M, "nominal"), ordinal = kripp(M, "ordinal"),
    interval = kripp(M, "interval"), ratio = kripp(M, "ratio")
  )
}
out$krippendorff <- list(krippendorff_2011 = kcase(k2011), random_30x4 = kcase(kr))

path <- file.path("tests", "reference", "reliability_reference.json")
writeLines(toJSON(out, auto_unbox = TRUE, digits = NA, na = "null", pretty = TRUE), path)
cat("wrote", path, "\n")
