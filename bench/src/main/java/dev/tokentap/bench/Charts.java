package dev.tokentap.bench;

import java.io.IOException;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import org.HdrHistogram.Histogram;
import org.HdrHistogram.HistogramIterationValue;
import org.knowm.xchart.BitmapEncoder;
import org.knowm.xchart.XYChart;
import org.knowm.xchart.XYChartBuilder;
import org.knowm.xchart.XYSeries;
import org.knowm.xchart.style.markers.SeriesMarkers;

/** PNG charts of the bench: latency CDFs (one line per target, log latency axis) and throughput curves. */
public final class Charts {

    static {
        // charts are drawn off screen; a machine without a display must not try to open one
        System.setProperty("java.awt.headless", "true");
    }

    private static final int WIDTH = 960;
    private static final int HEIGHT = 600;

    private Charts() {
    }

    /** A CDF of histograms recorded in nanoseconds, drawn in milliseconds. */
    public static void latencyCdf(Path png, String title, Map<String, Histogram> byTarget) throws IOException {
        Map<String, double[][]> series = new java.util.LinkedHashMap<>();
        byTarget.forEach((name, h) -> {
            if (h.getTotalCount() == 0) {
                return;
            }
            List<double[]> points = new ArrayList<>();
            for (HistogramIterationValue v : h.percentiles(5)) {
                points.add(new double[] {Math.max(v.getValueIteratedTo() / 1e6, 1e-3), v.getPercentileLevelIteratedTo()});
            }
            series.put(name, toArrays(points));
        });
        cdf(png, title, series);
    }

    /** A CDF from a few percentiles: percentile ("99.0") to microseconds. */
    public static void percentileCdf(Path png, String title, Map<String, Map<String, Long>> byTarget)
            throws IOException {
        Map<String, double[][]> series = new java.util.LinkedHashMap<>();
        byTarget.forEach((name, percentiles) -> {
            List<double[]> points = new ArrayList<>();
            percentiles.forEach((p, micros) -> points.add(new double[] {Math.max(micros / 1000.0, 1e-3),
                    Double.parseDouble(p)}));
            points.sort((a, b) -> Double.compare(a[1], b[1]));
            if (!points.isEmpty()) {
                series.put(name, toArrays(points));
            }
        });
        cdf(png, title, series);
    }

    private static void cdf(Path png, String title, Map<String, double[][]> series) throws IOException {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
                .xAxisTitle("latency (ms, log scale)").yAxisTitle("percentile").build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setYAxisMin(0.0);
        chart.getStyler().setYAxisMax(100.0);
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        series.forEach((name, xy) -> chart.addSeries(name, xy[0], xy[1]).setMarker(SeriesMarkers.NONE));
        if (series.isEmpty()) {
            chart.addSeries("no data", new double[] {1}, new double[] {0});
        }
        save(chart, png);
    }

    /** Throughput against concurrency, one line per target. */
    public static void throughput(Path png, String title, Map<String, List<double[]>> byTarget) throws IOException {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
                .xAxisTitle("concurrent requests (log scale)").yAxisTitle("requests/s").build();
        chart.getStyler().setXAxisLogarithmic(true);
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        byTarget.forEach((name, points) -> {
            if (!points.isEmpty()) {
                double[][] xy = toArrays(points);
                chart.addSeries(name, xy[0], xy[1]);
            }
        });
        save(chart, png);
    }

    /** A figure against seconds since a start, one line per target; log y axis if the title says so. */
    public static void overTime(Path png, String title, String yAxis, Map<String, List<double[]>> byTarget)
            throws IOException {
        XYChart chart = new XYChartBuilder().width(WIDTH).height(HEIGHT).title(title)
                .xAxisTitle("seconds").yAxisTitle(yAxis).build();
        boolean log = yAxis.contains("log scale");
        chart.getStyler().setYAxisLogarithmic(log);
        chart.getStyler().setDefaultSeriesRenderStyle(XYSeries.XYSeriesRenderStyle.Line);
        byTarget.forEach((name, all) -> {
            // a second without answers has no latency, and a log axis no zero
            List<double[]> points = log ? all.stream().filter(p -> p[1] > 0).toList() : all;
            if (!points.isEmpty()) {
                double[][] xy = toArrays(points);
                chart.addSeries(name, xy[0], xy[1]);
            }
        });
        save(chart, png);
    }

    private static void save(XYChart chart, Path png) throws IOException {
        BitmapEncoder.saveBitmap(chart, png.toString(), BitmapEncoder.BitmapFormat.PNG);
    }

    private static double[][] toArrays(List<double[]> points) {
        double[] x = new double[points.size()];
        double[] y = new double[points.size()];
        for (int i = 0; i < points.size(); i++) {
            x[i] = points.get(i)[0];
            y[i] = points.get(i)[1];
        }
        return new double[][] {x, y};
    }
}
