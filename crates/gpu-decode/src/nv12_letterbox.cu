// NV12 (BT.601, limited range) -> letterboxed planar RGB float in [0, 1], one thread per output
// pixel, written straight into the model's input tensor (batch slot `dst`).
// The CPU reference is `letterbox_nv12` in letterbox.rs: keep the two in step.

__device__ __forceinline__ void nv12_rgb(const unsigned char* y_plane, const unsigned char* uv_plane,
                                         int pitch, int x, int y, float* rgb)
{
    float Y = (float)y_plane[y * pitch + x];
    int uv = (y / 2) * pitch + (x / 2) * 2;
    float U = (float)uv_plane[uv] - 128.0f;
    float V = (float)uv_plane[uv + 1] - 128.0f;
    float c = 1.164383f * (Y - 16.0f);
    rgb[0] = fminf(fmaxf(c + 1.596027f * V, 0.0f), 255.0f);
    rgb[1] = fminf(fmaxf(c - 0.391762f * U - 0.812968f * V, 0.0f), 255.0f);
    rgb[2] = fminf(fmaxf(c + 2.017232f * U, 0.0f), 255.0f);
}

extern "C" __global__ void nv12_letterbox(
    const unsigned char* y_plane, const unsigned char* uv_plane, int pitch,
    int src_w, int src_h,
    float* dst, int dst_w, int dst_h,
    int pad_x, int pad_y, int resized_w, int resized_h)
{
    int x = blockIdx.x * blockDim.x + threadIdx.x;
    int y = blockIdx.y * blockDim.y + threadIdx.y;
    if (x >= dst_w || y >= dst_h) return;
    int plane = dst_w * dst_h;
    int o = y * dst_w + x;
    int rx = x - pad_x;
    int ry = y - pad_y;
    if (rx < 0 || ry < 0 || rx >= resized_w || ry >= resized_h) {
        float pad = 114.0f / 255.0f;
        dst[o] = pad;
        dst[plane + o] = pad;
        dst[2 * plane + o] = pad;
        return;
    }
    float sx = fmaxf(((float)rx + 0.5f) * (float)src_w / (float)resized_w - 0.5f, 0.0f);
    float sy = fmaxf(((float)ry + 0.5f) * (float)src_h / (float)resized_h - 0.5f, 0.0f);
    int x0 = min((int)sx, src_w - 1);
    int y0 = min((int)sy, src_h - 1);
    int x1 = min(x0 + 1, src_w - 1);
    int y1 = min(y0 + 1, src_h - 1);
    float fx = sx - (float)x0;
    float fy = sy - (float)y0;
    float a[3], b[3], c[3], d[3];
    nv12_rgb(y_plane, uv_plane, pitch, x0, y0, a);
    nv12_rgb(y_plane, uv_plane, pitch, x1, y0, b);
    nv12_rgb(y_plane, uv_plane, pitch, x0, y1, c);
    nv12_rgb(y_plane, uv_plane, pitch, x1, y1, d);
    for (int k = 0; k < 3; ++k) {
        float top = a[k] + (b[k] - a[k]) * fx;
        float bot = c[k] + (d[k] - c[k]) * fx;
        dst[k * plane + o] = (top + (bot - top) * fy) / 255.0f;
    }
}
